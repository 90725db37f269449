"""What turns a model bundle into another format: ``onnx_export`` (the ONNX export), ``onnx_cache`` (its
cache), ``onnx_dates`` (a change model as the cache's encoder and head graphs), ``onnx_quantize`` (int8) and
``stac`` (the STAC MLM model card). Reading and writing the bundle itself is `engine/bundle/`."""
