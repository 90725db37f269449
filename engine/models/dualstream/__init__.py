"""DualStream-DFormer: SegFormer vision encoder + ConvNeXt aux encoder, FiLM/gate and cross-attention fusion."""
