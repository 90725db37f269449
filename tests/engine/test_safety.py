"""engine.io.safety.check_outputs: outputs are compared with inputs by file identity, not by path string."""

from __future__ import annotations

import os

import pytest

from engine.cli.options import flag_name
from engine.config import SegmentConfig
from engine.errors import ConfigError, render
from engine.io.safety import check_outputs, file_identity, raster_sidecars
from engine.segment.scene_outputs import segment_files


@pytest.fixture
def files(tmp_path):
    image = tmp_path / "in" / "image.tif"
    image.parent.mkdir()
    image.write_bytes(b"image")
    aux = tmp_path / "in" / "aux.tif"
    aux.write_bytes(b"aux")
    return tmp_path, image, aux


def test_distinct_files_pass(files):
    root, image, aux = files
    check_outputs({"image": image, "aux": [aux]}, {"out": root / "out.tif", "probs": root / "p.tif"})


@pytest.mark.parametrize("spelling", ["same", "dotdot", "hardlink", "symlink", "symlinked_folder"])
def test_every_spelling_of_an_input_is_refused(files, spelling):
    root, image, aux = files
    if spelling == "same":
        out = aux
    elif spelling == "dotdot":
        out = root / "in" / ".." / "in" / "aux.tif"
    elif spelling == "hardlink":
        out = root / "hard.tif"
        os.link(aux, out)
    elif spelling == "symlink":
        out = root / "link.tif"
        out.symlink_to(aux)
    else:
        (root / "linked").symlink_to(root / "in", target_is_directory=True)
        out = root / "linked" / "aux.tif"
    with pytest.raises(ConfigError) as info:
        check_outputs({"image (--image)": image, "aux (--aux)": [aux]}, {"class raster (--out)": out})
    message = str(info.value)
    assert "class raster (--out)" in message and "aux (--aux)" in message and str(aux) in message


def test_sidecar_of_an_output_onto_an_input_is_refused(files):
    root, image, _aux = files
    style = root / "in" / "image.qml"  # the class raster's .qml sidecar would replace this input
    style.write_bytes(b"<qgis/>")
    with pytest.raises(ConfigError, match=r"style \(--style\)"):
        check_outputs({"style (--style)": style}, {"class raster (--out)": raster_sidecars(root / "in" / "image.png",
                                                                                         qml=True)})


def test_two_outputs_on_one_file_are_refused(files):
    root, _image, _aux = files
    with pytest.raises(ConfigError, match="probability raster .* and the class raster"):
        check_outputs({}, {"class raster": root / "o.tif", "probability raster": root / "x" / ".." / "o.tif"})


def test_input_folder_counts_with_its_data_files(files):
    root, image, _aux = files
    (root / "in" / "notes.json").write_text("{}")
    with pytest.raises(ConfigError, match="its file"):
        check_outputs({"data folder (--data)": root / "in"}, {"bundle (--out)": image})
    check_outputs({"data folder (--data)": root / "in"}, {"metrics": root / "in" / "notes.json"})  # not data


def test_missing_paths_compare_by_resolved_path(tmp_path):
    assert file_identity(tmp_path / "a" / ".." / "b.tif") == file_identity(tmp_path / "b.tif")
    assert file_identity(tmp_path / "b.tif")[0] == "path"


def test_segment_files_list_the_style_and_gdal_sidecars(tmp_path):
    cfg = SegmentConfig(image="i.tif", models=["m.dsmodel"], output=str(tmp_path / "o.tif"), polygons="p.gpkg")
    inputs, outputs = segment_files(cfg)
    written = [p for v in outputs.values() if v for p in ([v] if isinstance(v, str) else v)]
    assert str(tmp_path / "o.qml") in written and str(tmp_path / "o.tif.aux.xml") in written
    assert "p.gpkg" in written and list({render(k, flag_name): v for k, v in inputs.items()}[
        "model bundle (--model)"]) == ["m.dsmodel"]


def test_one_list_of_a_scenes_outputs_for_the_check_the_locks_and_the_clean_up(tmp_path):
    """SceneOutputs lists every output kind once: what the safety check sees, what is locked, what a finished
    scene leaves, and the settings a bulk run gives each scene all come from it."""
    from engine.segment.scene_outputs import OUTPUT_KINDS, SceneOutputs

    cfg = SegmentConfig(image="i.tif", models=["m.dsmodel"], output=str(tmp_path / "o.tif"),
                        probabilities=str(tmp_path / "p.tif"), confidence=str(tmp_path / "c.tif"),
                        polygons=str(tmp_path / "v.gpkg"))
    outputs = SceneOutputs.of(cfg)
    assert [kind.name for kind, _ in outputs.destinations()] == [kind.name for kind in OUTPUT_KINDS]
    assert all(kind.config_key in SegmentConfig.__dataclass_fields__ for kind in OUTPUT_KINDS)
    assert outputs.files == [tmp_path / "o.tif", tmp_path / "o.qml", tmp_path / "p.tif", tmp_path / "c.tif",
                             tmp_path / "c.qml", tmp_path / "v.gpkg"]
    assert str(tmp_path / "c.qml") in outputs.written()[OUTPUT_KINDS[2].what]  # a styled kind's style
    assert list(outputs.locked()) == list(outputs.written()) == list(segment_files(cfg)[1])
    assert str(tmp_path / "p.tif.aux.xml") in outputs.written()[OUTPUT_KINDS[1].what]
    assert cfg.replace(**outputs.settings()) == cfg
    only = SceneOutputs.of(cfg.replace(probabilities=None, confidence=None, polygons=None))
    assert only.files == [tmp_path / "o.tif", tmp_path / "o.qml"]
    assert [render(what, flag_name) for what in only.locked()] == ["class raster (--out)"]
    assert only.temporary_suffixes(tmp_path / "o.tif") == (".tif", ".qml")


def test_a_stale_lock_note_is_replaced_whole_and_a_held_lock_refuses(tmp_path):
    """The lock file of a run that died keeps its longer note; the next run writes its own over it, whole (cut
    after it rather than emptied first), and a second writer while it is held is refused naming the holder."""
    import os

    from engine.errors import OutputLockedError
    from engine.io.atomic import lock_path, output_lock

    out = tmp_path / "classes.tif"
    lock_path(out).write_text("pid 99999999 on a-machine-with-a-very-long-host-name-that-died-long-ago")
    with output_lock(out) as path:
        note = path.read_text()
        assert note == f"pid {os.getpid()} on {__import__('socket').gethostname()}"
        with pytest.raises(OutputLockedError, match=note.split(" on ")[0]):
            with output_lock(out):
                pass
    assert not lock_path(out).exists()
