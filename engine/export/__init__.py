"""What turns a model bundle into another format: the ONNX export (its cache and int8 quantization) and the
STAC MLM model card. Reading and writing the bundle itself is `engine/bundle/`."""
