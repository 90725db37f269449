"""What leaves a training: the model bundle and its typed metadata schema, its description in words, the ONNX
export (metadata, cache, int8 quantization) and the STAC MLM model card."""
