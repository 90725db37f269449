"""Ready models: a catalogue of models made elsewhere (:mod:`.catalogue`, ``catalogue.json``), their files
fetched and verified (:mod:`.download` over HTTP, :mod:`.packages` from an installed Python package, with
:mod:`.csmask` checking ukis-csmask's statistics) and handed over for wrapping (:mod:`.prepare`); where the
bundles go (:mod:`.folders`) and which are installed (:mod:`.cached`). Wrapping itself is the import's
(``engine.api.import_model``). Torch-free."""
