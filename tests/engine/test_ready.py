"""Ready models: the catalogue and its checks, downloads against a local HTTP server (checksum, progress, nothing
left behind), a package laid out like ukis-csmask wrapped and segmented exactly, and ``dualstream models``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from engine.api import (
    ConfigError,
    DataError,
    DependencyError,
    SegmentConfig,
    get_ready_model,
    read_metadata,
    ready_model_requirements,
    ready_models,
    segment,
)
from engine.callbacks import Stage
from engine.ready.catalogue import SHIPPED, load_catalogue, parse_entry, read_catalogue
from engine.ready.prepare import Stall, download, partial_path
from tests.engine.foreign_onnx import expected_classes
from tests.engine.ready_fixtures import (
    BIAS,
    MEAN,
    STD,
    WEIGHTS,
    cloudy_scene,
    described,
    fake_csmask,
    graph,
    package_entry,
    reflectance_scene,
    serve,
    sha256,
    write_catalogue,
)
from tests.helpers import RecordingCallback

pytest.importorskip("onnxruntime")
REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_catalogue_holds_the_csmask_models_with_their_own_statistics():
    entries = read_catalogue(SHIPPED)
    names = [e.name for e in entries]
    print(f"shipped ready models: {names}")
    assert names == ["ukis-csmask-4b-l1c", "ukis-csmask-4b-l2a", "ukis-csmask-6b-l1c", "ukis-csmask-6b-l2a"]
    for entry in entries:
        four = "-4b-" in entry.name
        assert entry.bands == (["blue", "green", "red", "nir"] + ([] if four else ["swir16", "swir22"]))
        assert entry.classes == ["background", "cloud", "cloud shadow"] and len(entry.class_colors) == 3
        assert entry.output == "logits" and entry.tile_size == 256 and entry.licence == "Apache-2.0"
        assert entry.source.kind == "pypi" and entry.source.requirement == "ukis-csmask==1.0.0"
        assert entry.source.model == f"model_{'4' if four else '6'}b_{entry.name[-3:]}.onnx"
        fields = entry.description_fields()
        assert fields["bands"] == len(entry.bands) and fields["mean"] == entry.mean and fields["scale"] == 1.0


def _contrast_with_white(color: str) -> float:
    """WCAG contrast ratio of ``#rrggbb`` against white (1: invisible, 21: black)."""
    channels = [int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_every_shipped_class_colour_shows_on_white():
    """A class colour must show in QGIS's legend (white) and over bright scenes: the cloud class was #f0f0f0,
    contrast 1.1 (issue 53 item 17)."""
    assert _contrast_with_white("#f0f0f0") < 1.2  # the measure tells the old colour
    for entry in read_catalogue(SHIPPED):
        for name, color in zip(entry.classes, entry.class_colors):
            assert _contrast_with_white(color) >= 2.0, (entry.name, name, color)


@pytest.mark.parametrize("change, message", [
    ({"std": [0.1, 0.2]}, "one value per band"),
    ({"std": [0.1, 0.2, 0.0, 0.3]}, r"`std` must be a list of finite numbers > 0 \(item 2, 0.0"),
    ({"mean": [0.1, "a", 0.2, 0.3]}, r"`mean` must be a list of finite numbers \(item 1, 'a'"),
    ({"scale": float("inf")}, "`scale` must be finite, got inf"),
    ({"resolution": -1}, "`resolution` must be finite and > 0, got -1"),
    ({"classes": [{"name": "a"}, {"name": "a"}]}, "`classes` must be a list of distinct class names"),
    ({"classes": [{"name": "a", "color": "red"}, {"name": "b"}]}, "give #rrggbb"),
    ({"output": "heatmap"}, "`output` must be one of probabilities, logits, scores, got 'heatmap'"),
    ({"name": "Has Spaces"}, "lower case"),
    ({"licence": ""}, "'licence' is required"),
    ({"source": {"kind": "http", "url": "ftp://x/y.onnx", "sha256": "0" * 64}}, "must start with https://"),
    ({"source": {"kind": "http", "url": "https://x/y.onnx", "sha256": "abc"}}, "64 hex digits"),
    ({"source": {"kind": "svn"}}, "kind 'svn'"),
    ({"classes": None}, "come with classes"),
    ({"polygon_treatment": {"cloud": "wiggle"}}, "polygon_treatment 'cloud'"),
    ({"polygon_treatment": {"roads": "smooth"}}, "must name one of its classes"),
    ({"value_range": ["0", 1]}, r"value_range must be \[low, high\] with low < high, not \['0', 1\]"),
    ({"value_range": [1, 0]}, "value_range must be"),
])
def test_a_bad_entry_is_refused_naming_the_entry_and_the_field(change, message):
    item = described("fine", {"kind": "http", "url": "https://example.org/m.onnx", "sha256": "a" * 64})
    item.update(change)
    with pytest.raises(ConfigError, match=message) as caught:
        parse_entry(item, "cat.json, model 1")
    assert "cat.json, model 1" in str(caught.value)


def test_an_entry_without_a_description_reads_the_graphs_own_metadata(tmp_path):
    item = {"name": "zoo-model", "task": "land cover", "sensor": "aerial RGB", "licence": "MIT",
            "source": {"kind": "http", "url": "https://example.org/m.onnx", "sha256": "a" * 64}}
    assert parse_entry(item, "cat").description_fields() is None


def test_extra_catalogues_add_entries_and_a_name_given_twice_is_an_error(tmp_path, monkeypatch):
    source = {"kind": "http", "url": "https://example.org/m.onnx", "sha256": "a" * 64}
    extra = write_catalogue(tmp_path / "ours.json", [described("our-clouds", source)])
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(extra))
    assert [m.name for m in ready_models(tmp_path)][-1] == "our-clouds"
    twice = write_catalogue(tmp_path / "twice.json", [described("ukis-csmask-4b-l1c", source)])
    with pytest.raises(ConfigError, match="in two catalogues"):
        load_catalogue([SHIPPED, twice])
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(tmp_path / "broken.json"))
    with pytest.raises(ConfigError, match="broken.json' cannot be read as JSON"):
        ready_models(tmp_path)


def test_a_download_is_verified_reported_and_kept_once(tmp_path):
    body = os.urandom(1_000_000)  # four chunks
    destination = tmp_path / "models" / "m.onnx"
    with serve() as server:
        server.files["/m.onnx"] = body
        callback = RecordingCallback()
        download(f"{server.url}/m.onnx", destination, sha256_of(body), callback)
        assert destination.read_bytes() == body
        steps = [p for p in callback.messages("progress") if p[2] == Stage.DOWNLOAD]
        assert len(steps) >= 5 and steps[-1][:2] == (len(body), len(body)), steps[-3:]
        assert [s[0] for s in steps] == sorted(s[0] for s in steps)
        download(f"{server.url}/m.onnx", destination, sha256_of(body), RecordingCallback())
        assert server.requests == ["/m.onnx"]  # the verified file was kept, not fetched again


def test_a_download_with_another_checksum_is_refused_and_leaves_nothing(tmp_path):
    body = os.urandom(50_000)
    folder = tmp_path / "models"
    with serve() as server:
        server.files["/m.onnx"] = body
        with pytest.raises(DataError, match="has SHA-256 .* but the catalogue expects") as caught:
            download(f"{server.url}/m.onnx", folder / "m.onnx", "0" * 64)
        assert "was not kept" in str(caught.value)
        assert not folder.exists()  # neither the file nor its temporary, nor the folder made for them
        folder.mkdir()
        with pytest.raises(DataError, match="answered 404"):
            download(f"{server.url}/gone.onnx", folder / "g.onnx", "0" * 64)
    assert list(folder.iterdir()) == []  # a folder that was there stays


@pytest.mark.parametrize("kind, stall, message", [
    ("silent", Stall(no_byte_s=1.0), r"stalled: no byte for 1 s after 0 B of 195\.3 KiB"),
    ("mute", Stall(no_byte_s=1.0), r"stalled: the server did not answer within 1 s"),
    ("trickle", Stall(no_byte_s=2.0, min_rate=20_000, window_s=1.5, report_s=0.3),
     r"stalled: .* in the last 2 s \(under 19\.5 KiB/s\)"),
], ids=["headers_then_nothing", "no_answer", "under_the_rate"])
def test_a_stalled_download_ends_with_a_clear_error_and_keeps_what_came(tmp_path, kind, stall, message):
    """Issue 40, item 7: a server sending 1 byte a second kept `models get` waiting for minutes without a word.
    Issue 62, point 3: what came is kept for the next run, as the hub's downloads keep it (one policy)."""
    body = os.urandom(200_000)
    folder = tmp_path / "models" / "downloads"
    callback = RecordingCallback()
    with serve() as server:
        server.files["/m.onnx"] = body
        if kind == "trickle":
            server.trickle["/m.onnx"] = (2000, 0.2)  # 10 KB/s: under the 20 KB/s asked here
        else:
            getattr(server, kind).add("/m.onnx")
        with pytest.raises(DataError, match=message) as caught:
            download(f"{server.url}/m.onnx", folder / "m.onnx", sha256_of(body), callback, stall=stall)
    print(caught.value)
    assert not (folder / "m.onnx").exists()  # never a file that looks finished
    if kind != "trickle":  # nothing came: nothing kept, not even the folders made for it
        assert "run it again to continue from there" in str(caught.value)
        assert list(tmp_path.iterdir()) == []
        return
    part = partial_path(folder / "m.onnx", sha256_of(body))
    assert f"kept in '{part}': run it again to continue from there" in str(caught.value)
    assert 0 < part.stat().st_size < len(body) and body.startswith(part.read_bytes())
    steps = [p for p in callback.messages("progress") if p[2] == Stage.DOWNLOAD]  # progress while it crawled
    assert len(steps) > 3 and 0 < steps[-1][0] < len(body), steps
    lines = callback.messages("progress_line")  # on the progress channel, not among the info lines
    assert any(m.startswith("Downloaded ") and "of 195.3 KiB" in m for m in lines), callback.events
    assert not any(m.startswith("Downloaded ") for m in callback.messages("info"))


def test_a_broken_download_is_continued_by_the_next_run_from_its_kept_bytes(tmp_path):
    """Issue 62, point 3: the ready downloader deleted what it had; it keeps it, as the hub's downloads do, and
    asks for the rest only. A server ignoring the Range request sends the whole file, said."""
    body = os.urandom(300_000)
    destination, expected = tmp_path / "models" / "m.onnx", sha256_of(body)
    part = partial_path(destination, expected)
    with serve() as server:
        server.files["/m.onnx"] = body
        server.cut["/m.onnx"] = 120_000  # the link dies there
        with pytest.raises(DataError, match=r"m\.onnx ended after 120000 of 300000 bytes\. The bytes fetched so far "
                                            r"are kept"):
            download(f"{server.url}/m.onnx", destination, expected)
        assert part.read_bytes() == body[:120_000]
        callback = RecordingCallback()
        download(f"{server.url}/m.onnx", destination, expected, callback)
        assert destination.read_bytes() == body and not part.exists()
        assert server.asked == [("/m.onnx", "", 120_000), ("/m.onnx", "bytes=120000-", 180_000)]  # the rest only
        assert any(m.startswith("Continuing ") and "117.2 KiB kept by an earlier run" in m
                   for m in callback.messages("info"))

        destination.unlink()
        server.cut["/m.onnx"], server.ranges = 100_000, False
        with pytest.raises(DataError):
            download(f"{server.url}/m.onnx", destination, expected)
        callback = RecordingCallback()
        download(f"{server.url}/m.onnx", destination, expected, callback)
        assert destination.read_bytes() == body and server.asked[-1] == ("/m.onnx", "bytes=100000-", 300_000)
        assert any("ignored the Range request" in m for m in callback.messages("info"))

        destination.unlink()
        server.ranges = True
        old = partial_path(destination, "f" * 64)  # the partial of an older catalogue entry: not continued
        old.write_bytes(body[:5000])
        part.write_bytes(b"x" * 1000)  # kept bytes that are not the file's: the checksum refuses them, removed
        with pytest.raises(DataError, match="has SHA-256 .* but the catalogue expects"):
            download(f"{server.url}/m.onnx", destination, expected)
        assert not old.exists() and not part.exists() and not destination.exists()


def test_an_answer_of_other_bytes_than_the_rest_deletes_the_partial_and_starts_over(tmp_path):
    """Issue 79, item 10: the ready downloader refused a 206 whose Content-Range does not start at the kept byte (and
    the hub's loop kept the partial): one loop, one policy -- deleted, said, asked again from byte 0. Kept bytes that
    reach past the file (416) are met the same way, said too."""
    body = os.urandom(300_000)
    destination, expected = tmp_path / "models" / "m.onnx", sha256_of(body)
    part = partial_path(destination, expected)
    with serve() as server:
        server.files["/m.onnx"] = body
        server.misranged.add("/m.onnx")
        destination.parent.mkdir()
        part.write_bytes(body[:120_000])
        callback = RecordingCallback()
        download(f"{server.url}/m.onnx", destination, expected, callback)
        assert destination.read_bytes() == body and not part.exists()
        assert server.asked == [("/m.onnx", "bytes=120000-", 300_000), ("/m.onnx", "", 300_000)]
        said = [m for m in callback.messages("info") if m.startswith("The server answered the Range request")]
        assert said == [f"The server answered the Range request for {server.url}/m.onnx from byte 120000 with "
                        f"'bytes 0-299999/300000', not the rest of the file: the partial file (117.2 KiB, {part}) was "
                        f"deleted and the file is downloaded from its start."]

        destination.unlink()
        server.misranged.clear()
        server.asked.clear()
        part.write_bytes(body + b"more")  # past the file's end: 416
        callback = RecordingCallback()
        download(f"{server.url}/m.onnx", destination, expected, callback)
        assert destination.read_bytes() == body and not part.exists()
        assert server.asked == [("/m.onnx", "", 300_000)]  # the 416 sends no body
        said = "from byte 300004 with 416 (the kept bytes reach past its end)"
        assert any(said in m for m in callback.messages("info"))


def test_a_canceled_download_keeps_what_came_and_no_finished_file(tmp_path):
    body = os.urandom(1_000_000)
    with serve() as server:
        server.files["/m.onnx"] = body
        with pytest.raises(Exception, match="Canceled"):
            download(f"{server.url}/m.onnx", tmp_path / "m.onnx", sha256_of(body), RecordingCallback(cancel_after=2))
    assert [p.name for p in tmp_path.iterdir()] == [partial_path(tmp_path / "m.onnx", sha256_of(body)).name]


def test_a_package_laid_out_like_csmask_is_wrapped_and_segments_exactly(tmp_path, monkeypatch):
    site = tmp_path / "site"
    folder = fake_csmask(site)
    monkeypatch.syspath_prepend(str(site))
    catalogue = write_catalogue(tmp_path / "cat.json", [package_entry("fake-csmask-4b", folder)])
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(catalogue))
    assert ready_model_requirements("fake-csmask-4b") == []

    callback = RecordingCallback()
    result = get_ready_model("fake-csmask-4b", tmp_path / "models", callback, install=False)

    assert result.path == str(tmp_path / "models" / "fake-csmask-4b.dsmodel") and not result.reused
    meta = read_metadata(result.path)
    assert meta.data.class_names == ["background", "cloud", "cloud shadow"]
    assert meta.data.class_colors == ["#1b7837", "#00b4d8", "#542788"]
    assert meta.data.extra["imported"]["band_names"] == ["blue", "green", "red", "nir"]
    assert any("checksum verified" in m for m in callback.messages("info"))
    raw = reflectance_scene(tmp_path / "scene.tif")  # 70 x 90: several 32-px tiles, edges included
    segment(SegmentConfig(image=str(tmp_path / "scene.tif"), models=[result.path], output=str(tmp_path / "c.tif")))
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(1), expected_classes(raw, WEIGHTS, BIAS, MEAN, STD, 1.0))
    assert [m.path for m in ready_models(tmp_path / "models") if m.name == "fake-csmask-4b"] == [result.path]
    again = get_ready_model("fake-csmask-4b", tmp_path / "models", install=False)
    assert again.reused and again.path == result.path


def test_a_package_whose_files_differ_from_the_catalogue_is_refused(tmp_path, monkeypatch):
    site = tmp_path / "site"
    folder = fake_csmask(site)
    monkeypatch.syspath_prepend(str(site))
    other_stats = package_entry("wrong-stats", folder, mean=[0.3, 0.24, 0.26, 0.33])
    other_file = package_entry("other-version", folder)
    other_file["source"]["sha256"] = "b" * 64
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [other_stats, other_file])))
    with pytest.raises(DataError, match="does not match the model's statistics file .*mean"):
        get_ready_model("wrong-stats", tmp_path / "models", install=False)
    with pytest.raises(DataError, match="another version of fake_csmask is installed"):
        get_ready_model("other-version", tmp_path / "models", install=False)
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").glob("*.dsmodel"))


def test_a_package_file_linked_out_of_the_package_is_not_read(tmp_path, monkeypatch):
    """Issue 40, item 6: the catalogue's paths stay in their package, a link out of it included."""
    site = tmp_path / "site"
    folder = fake_csmask(site)
    outside = tmp_path / "secret.onnx"
    outside.write_bytes((folder / "model_4b_l1c.onnx").read_bytes())
    (folder / "linked.onnx").symlink_to(outside)
    monkeypatch.syspath_prepend(str(site))
    entry = package_entry("linked", folder)
    entry["source"]["model"] = "linked.onnx"
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [entry])))
    with pytest.raises(DataError, match="outside the package's folder"):
        get_ready_model("linked", tmp_path / "models", install=False)
    for value in ("../x.onnx", "/etc/passwd", "a/../../x.onnx", "C:\\x.onnx"):
        bad = package_entry("bad", folder)
        bad["source"]["model"] = value
        with pytest.raises(ConfigError, match="inside the package"):
            parse_entry(bad, "test")


def test_a_missing_package_is_named_with_the_pip_command(tmp_path, monkeypatch):
    folder = fake_csmask(tmp_path / "elsewhere", module="absent_csmask")  # checksums known, never importable
    entry = package_entry("absent", folder, module="absent_csmask")
    monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [entry])))
    assert ready_model_requirements("absent") == ["absent_csmask==1.0.0"]
    with pytest.raises(DependencyError, match=r"pip install absent_csmask==1\.0\.0"):
        get_ready_model("absent", tmp_path / "models", install=False)


def test_an_http_entry_is_downloaded_wrapped_and_its_download_removed(tmp_path, monkeypatch):
    onnx = graph(tmp_path / "served.onnx")
    entry = described("served-clouds", {"kind": "http", "url": "", "sha256": sha256(onnx)})
    with serve() as server:
        server.files["/zoo/clouds.onnx"] = onnx.read_bytes()
        entry["source"]["url"] = f"{server.url}/zoo/clouds.onnx"
        entry["polygon_treatment"] = {"cloud": "as_is"}  # an entry declares how its classes are drawn
        monkeypatch.setenv("DUALSTREAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [entry])))
        callback = RecordingCallback()
        result = get_ready_model("served-clouds", tmp_path / "models", callback)
    assert [p for p in callback.messages("progress") if p[2] == Stage.DOWNLOAD]
    assert read_metadata(result.path).data.class_names == ["background", "cloud", "cloud shadow"]
    assert read_metadata(result.path).data.polygon_treatment == {"cloud": "as_is"}
    assert list((tmp_path / "models" / "downloads").iterdir()) == []  # the bundle holds the graph


def test_models_list_and_get_on_the_command_line(tmp_path):
    site = tmp_path / "site"
    folder = fake_csmask(site)
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{site}", DUALSTREAM_MODELS_DIR=str(tmp_path / "models"),
               DUALSTREAM_CATALOGUE=str(write_catalogue(tmp_path / "c.json", [package_entry("fake-4b", folder)])))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "engine", "models", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300)

    listed = run("list")
    print(listed.stdout)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()[1:]
    assert header.split() == ["name", "task", "sensor", "bands", "classes", "licence", "installed"]
    fake = next(row for row in rows if row.startswith("fake-4b "))
    assert "blue, green, red, nir" in fake and "background, cloud, cloud shadow" in fake and fake.endswith("no")
    assert any(row.startswith("ukis-csmask-6b-l2a ") for row in rows)
    got = run("get", "fake-4b")
    assert got.returncode == 0, got.stderr
    assert f"Written: {tmp_path / 'models' / 'fake-4b.dsmodel'}" in got.stdout
    assert "4 bands in this order: blue, green, red, nir" in got.stdout
    assert next(r for r in run("list").stdout.splitlines() if r.startswith("fake-4b ")).endswith("yes")
    as_json = json.loads(run("list", "--json").stdout)
    assert next(r for r in as_json if r["name"] == "fake-4b")["sha256"] == sha256(folder / "model_4b_l1c.onnx")
    unknown = run("get", "nope")
    assert unknown.returncode == 2 and "No ready model called 'nope'" in unknown.stderr
    families = run()
    assert families.returncode == 0 and "dualstream models list" in families.stdout


@pytest.mark.skipif(importlib.util.find_spec("ukis_csmask") is None,
                    reason="ukis-csmask is not installed (pip install ukis-csmask==1.0.0 to run this)")
def test_the_real_csmask_model_agrees_with_csmask_on_one_tile(tmp_path):
    """Opt-in: with ukis-csmask installed, its 4-band L1C model wrapped from the installed package gives on one
    256-px tile the classes of CSmask's own session run on CSmask's own normalised input."""
    from ukis_csmask.mask import CSmask

    result = get_ready_model("ukis-csmask-4b-l1c", tmp_path / "models", install=False)
    raw = cloudy_scene(tmp_path / "tile.tif", size=(256, 256), seed=7)
    segment(SegmentConfig(image=str(tmp_path / "tile.tif"), models=[result.path], output=str(tmp_path / "c.tif"),
                          border=0))  # one tile, one graph run: no tiling on either side
    model = CSmask(img=np.moveaxis(raw, 0, -1).copy(), band_order=["blue", "green", "red", "nir"],
                   product_level="l1c")
    logits = model.session.run(None, {model.input_names: np.moveaxis(model.img, -1, 0)[None]})[0][0]
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.array_equal(src.read(1), logits.argmax(0))


@pytest.mark.skipif(importlib.util.find_spec("ukis_csmask") is None,
                    reason="ukis-csmask is not installed (pip install ukis-csmask==1.0.0 to run this)")
def test_the_real_csmask_model_tiles_a_scene_as_csmask_does(tmp_path):
    """Opt-in: on a scene larger than a tile the wrapped model, with the tiling its catalogue entry records
    (CSmask's 52-px overlap and 51-px mirrored border), gives CSmask's own classes on nearly every pixel."""
    from ukis_csmask.mask import CSmask

    result = get_ready_model("ukis-csmask-4b-l1c", tmp_path / "models", install=False)
    raw = cloudy_scene(tmp_path / "scene.tif", size=(300, 420), seed=11)
    segment(SegmentConfig(image=str(tmp_path / "scene.tif"), models=[result.path], output=str(tmp_path / "c.tif")))
    theirs = CSmask(img=np.moveaxis(raw, 0, -1).copy(), band_order=["blue", "green", "red", "nir"],
                    product_level="l1c").csm[..., 0]
    assert min(np.mean(theirs == c) for c in (0, 1, 2)) > 0.05  # a scene with every class, not all background
    with rasterio.open(tmp_path / "c.tif") as src:
        assert np.mean(src.read(1) == theirs) > 0.999


def sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
