"""Models made elsewhere: an ONNX graph wrapped in a bundle (``dualstream import``); run by onnxruntime only."""
