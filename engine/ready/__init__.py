"""Ready models: a catalogue of models made elsewhere (:mod:`.catalogue`, ``catalogue.json``), their files fetched and
verified (:mod:`.prepare`: over HTTP or from an installed Python package, checking ukis-csmask's statistics, handed
over for wrapping; where the bundles go and which are installed). Wrapping itself is the import's
(``engine.api.import_model``). Torch-free."""
