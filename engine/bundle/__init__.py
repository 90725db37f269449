"""A model file: ``schema`` (the bundle's typed metadata), ``store`` (safetensors + metadata read and written),
``describe`` (a bundle in words), ``view`` (what any model expects), ``expects`` (whether inputs fit a bundle: the
one rule a front end shows and a run refuses by), ``onnx_metadata`` (an ONNX graph's metadata and session),
``date_graphs`` (a change model's encoder and head graphs run as one); models made elsewhere: ``validate`` (one
check of a model description), ``imported`` (an ONNX graph wrapped as a bundle), ``graph_output`` (its output read
as probabilities), ``deepness`` (Deepness's metadata), ``model_files`` (any model file's metadata). Below `training`
and `segment`, which load models from here; `export/` turns a bundle into other formats."""
