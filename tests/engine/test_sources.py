"""Reference-layout discovery and explicit scenes (placeholder files: only names matter here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import REFERENCE_AUX_PREFIXES, DataConfig, SceneSpec
from engine.data.sources import resolve_scenes
from engine.errors import ConfigError, DataError
from tests.helpers import RecordingCallback


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def layout(root: Path, names: list[str], split: str = "t", suffix: str = ".tif") -> Path:
    img, lab = ("ts_sn", "tl_sn") if split == "t" else ("vs_sn", "vl_sn")
    ap, gems = (f"{split}_ap", f"{split}_gems")
    for name in names:
        touch(root / img / f"{name}{suffix}")
        touch(root / lab / f"{name}{suffix}")
        touch(root / gems / f"GEMS_{name}{suffix}")
        for gas in ("CO", "NO2", "SO2"):
            touch(root / ap / f"AIR_Pollution_{gas}_{name}{suffix}")
    return root


def test_reference_layout_pairs_by_name_in_prefix_order(tmp_path: Path) -> None:
    layout(tmp_path, ["a", "b"])
    layout(tmp_path, ["c"], split="v")
    touch(tmp_path / "ts_sn" / "notes.txt")  # ignored: not a raster
    train, val = resolve_scenes(DataConfig(data_dir=str(tmp_path)))
    assert [Path(s.image).name for s in train] == ["a.tif", "b.tif"]
    assert [Path(s.image).name for s in val] == ["c.tif"]
    scene = train[1]
    assert Path(scene.label) == tmp_path / "tl_sn" / "b.tif"
    assert [Path(p).name for p in scene.aux] == [f"{p}b.tif" for p in REFERENCE_AUX_PREFIXES]
    assert Path(val[0].aux[0]).parent.name == "v_gems" and Path(val[0].aux[1]).parent.name == "v_ap"


def test_reference_layout_suffix_and_case_insensitive(tmp_path: Path) -> None:
    layout(tmp_path, ["Scene1"], suffix=".TIFF")
    (tmp_path / "tl_sn" / "Scene1.TIFF").rename(tmp_path / "tl_sn" / "scene1.tif")
    train, val = resolve_scenes(DataConfig(data_dir=str(tmp_path)))
    assert len(train) == 1 and Path(train[0].label).name == "scene1.tif"
    assert val == []  # no vs_sn: validation held out later


def test_custom_aux_prefixes_and_vision_only(tmp_path: Path) -> None:
    layout(tmp_path, ["a"])
    train, _ = resolve_scenes(DataConfig(data_dir=str(tmp_path), aux_prefixes=["AIR_Pollution_SO2_", "GEMS_"]))
    assert [Path(p).name for p in train[0].aux] == ["AIR_Pollution_SO2_a.tif", "GEMS_a.tif"]
    train, _ = resolve_scenes(DataConfig(data_dir=str(tmp_path), aux_prefixes=[]))
    assert train[0].aux == []


def test_missing_partner_reported_by_name(tmp_path: Path) -> None:
    layout(tmp_path, ["good", "nolabel", "nogems"])
    (tmp_path / "tl_sn" / "nolabel.tif").unlink()
    (tmp_path / "t_gems" / "GEMS_nogems.tif").unlink()
    with pytest.raises(DataError) as err:
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))
    msg = str(err.value)
    assert "2 incomplete scene(s)" in msg
    assert "'nolabel'" in msg and "label 'nolabel.tif' not found in" in msg and "tl_sn" in msg
    assert "'nogems'" in msg and "GEMS_nogems.tif" in msg and "t_gems" in msg
    assert "'good'" not in msg and "skip_incomplete" in msg
    assert " ".join(msg.split()).count(". Add the missing files") == 1  # a sentence of its own, folded or not


def test_missing_partner_skipped_with_warning(tmp_path: Path) -> None:
    layout(tmp_path, ["good", "nolabel"])
    (tmp_path / "tl_sn" / "nolabel.tif").unlink()
    cb = RecordingCallback()
    train, _ = resolve_scenes(DataConfig(data_dir=str(tmp_path), skip_incomplete=True), cb)
    assert [Path(s.image).stem for s in train] == ["good"]
    warnings = cb.messages("warning")
    assert any("nolabel" in w and "Skipping 1 incomplete" in w for w in warnings)


def test_all_incomplete_even_when_skipping_is_an_error(tmp_path: Path) -> None:
    layout(tmp_path, ["a"])
    (tmp_path / "t_ap" / "AIR_Pollution_CO_a.tif").unlink()
    with pytest.raises(DataError, match="No complete scene"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path), skip_incomplete=True), RecordingCallback())


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path / "nope")))
    (tmp_path / "ts_sn").mkdir()
    (tmp_path / "tl_sn").mkdir()
    (tmp_path / "t_ap").mkdir()
    with pytest.raises(DataError, match=r"ts_sn' holds no \.tif"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))
    touch(tmp_path / "ts_sn" / "a.tif")
    with pytest.raises(DataError, match=r"tl_sn' holds no \.tif"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))
    (tmp_path / "tl_sn").rmdir()
    with pytest.raises(DataError, match=r"tl_sn' is missing"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))


def test_no_aux_folder_means_vision_only_unless_prefixes_were_chosen(tmp_path: Path) -> None:
    touch(tmp_path / "ts_sn" / "a.tif")
    touch(tmp_path / "tl_sn" / "a.tif")
    log = RecordingCallback()
    train, _ = resolve_scenes(DataConfig(data_dir=str(tmp_path)), log)
    assert len(train) == 1 and train[0].aux == []
    assert len([m for kind, m in log.events if kind == "info" and "vision-only" in m]) == 1
    with pytest.raises(DataError, match="t_ap/ or t_gems/"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path), aux_prefixes=["SAR_"]))
    train, _ = resolve_scenes(DataConfig(data_dir=str(tmp_path), aux_prefixes=[]))
    assert len(train) == 1


def test_empty_validation_folder_is_an_error(tmp_path: Path) -> None:
    layout(tmp_path, ["a"])
    for name in ("vs_sn", "vl_sn", "v_ap", "v_gems"):
        (tmp_path / name).mkdir()
    with pytest.raises(DataError, match="vs_sn"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))


def test_duplicate_base_names_rejected(tmp_path: Path) -> None:
    layout(tmp_path, ["a"])
    touch(tmp_path / "ts_sn" / "a.tiff")
    with pytest.raises(DataError, match="share the base name 'a'"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path)))


def test_explicit_scenes(tmp_path: Path) -> None:
    img, lab, aux = touch(tmp_path / "img.tif"), touch(tmp_path / "lab.gpkg"), touch(tmp_path / "aux.tif")
    cfg = DataConfig(train_scenes=[SceneSpec(image=str(img), label=str(lab), aux=[str(aux)])])
    train, val = resolve_scenes(cfg)
    assert train[0].image == str(img) and val == []
    bad = DataConfig(train_scenes=[SceneSpec(image=str(img), label=str(lab)),
                                   SceneSpec(image=str(tmp_path / "x.tif"), label=str(tmp_path / "y.tif"))])
    with pytest.raises(DataError) as err:
        resolve_scenes(bad)
    assert "train_scenes[1] 'x'" in str(err.value) and "y.tif' does not exist" in str(err.value)
    nolabel = DataConfig(train_scenes=[SceneSpec(image=str(img))])
    with pytest.raises(DataError, match="no label given"):
        resolve_scenes(nolabel)


def test_explicit_and_folder_conflict_or_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No training data"):
        resolve_scenes(DataConfig())
    img = touch(tmp_path / "img.tif")
    with pytest.raises(ConfigError, match="not both"):
        resolve_scenes(DataConfig(data_dir=str(tmp_path), train_scenes=[SceneSpec(image=str(img), label=str(img))]))
