"""Get a ready model through processing.run: its choices are the engine's catalogue, a download from a local HTTP
server is verified, shown as progress and wrapped as a bundle Segment takes; a bad checksum leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.ready_fixtures import described, graph, serve, sha256, write_catalogue

pytestmark = pytest.mark.qgis
pytest.importorskip("onnxruntime")


def recorder():
    """A feedback that keeps the progress values and texts a run reported."""
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.progress: list[float] = []
            self.texts: list[str] = []
            self.progressChanged.connect(self.progress.append)

        def setProgressText(self, text: str) -> None:  # noqa: N802 - QGIS API
            self.texts.append(text)
            super().setProgressText(text)

    return Recorder()


def test_get_a_ready_model_downloads_checks_and_wraps_it(plugin, tmp_path, monkeypatch):
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    onnx = graph(tmp_path / "clouds.onnx")
    good = described("served-clouds", {"kind": "http", "url": "", "sha256": sha256(onnx)})
    bad = described("damaged-clouds", {"kind": "http", "url": "", "sha256": "0" * 64})
    with serve() as server:
        server.files["/clouds.onnx"] = onnx.read_bytes()
        for entry in (good, bad):
            entry["source"]["url"] = f"{server.url}/clouds.onnx"
        monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [good, bad])))
        algorithm = QgsApplication.processingRegistry().createAlgorithmById("dualstream:getmodel")
        options = algorithm.parameterDefinition("MODEL").options()
        assert options[0] == "ukis-csmask-4b-l1c" and options[-2:] == ["served-clouds", "damaged-clouds"]
        assert "blue, green, red, nir" in algorithm.shortHelpString()

        feedback = recorder()
        results = processing.run("dualstream:getmodel", {"MODEL": "served-clouds", "FOLDER": str(tmp_path / "m")},
                                 feedback=feedback)
        bundle = Path(results["OUTPUT"])
        assert bundle == tmp_path / "m" / "served-clouds.dsmodel" and bundle.is_file()
        assert "Downloading the model" in feedback.texts and max(feedback.progress) == 100
        assert 90.0 in feedback.progress, feedback.progress  # the download's share of the bar, complete

        with pytest.raises(QgsProcessingException, match="has SHA-256 .* but the catalogue expects"):
            processing.run("dualstream:getmodel", {"MODEL": "damaged-clouds", "FOLDER": str(tmp_path / "m")})
    assert sorted(p.name for p in (tmp_path / "m").rglob("*") if p.is_file()) == ["served-clouds.dsmodel"]

    from engine.api import read_metadata

    assert read_metadata(str(bundle)).data.class_names == ["background", "cloud", "cloud shadow"]
