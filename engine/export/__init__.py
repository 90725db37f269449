"""What leaves a training: the model bundle, its ONNX export and the ONNX metadata."""
