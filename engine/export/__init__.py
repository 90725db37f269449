"""What turns a model bundle into another format: ``onnx_export`` (the ONNX export, and its int8 version),
``onnx_cache`` (its cache, a change model there as an encoder and a head graph) and ``stac`` (the STAC MLM model
card). Reading and writing the bundle itself is `engine/bundle/`."""
