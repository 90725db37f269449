"""A model file: the bundle (safetensors + typed metadata schema) read and written, described in words, and
models made elsewhere (ONNX graphs, Deepness metadata) wrapped as bundles. Below `training` and `segment`,
which load models from here; `export/` turns a bundle into other formats."""
