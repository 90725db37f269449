"""Every benchmark target with its figure, met or not, the load it ran under and the last recorded run's figure.

Each section's results are read by the reader registered for it in :data:`READERS` (a target a run did not
measure is listed as not measured). ``bench/run.py`` prints the summary, puts it at the top of results.md, and
records a full run's figures in ``bench/last_results.json`` (committed), so the next run shows a regression beside
the figure it had. Quick runs measure smaller cases: they are recorded and compared apart from full runs.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECORD = Path(__file__).resolve().parent / "last_results.json"
COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt, ">": operator.gt}


@dataclass
class Target:
    """One target: ``figure`` compared with ``threshold`` by ``op``; ``unit`` "x", "%" (a share) or "s"."""

    name: str
    section: str
    op: str
    threshold: float
    figure: float | None
    unit: str = "x"
    load: str = ""  # the 1-minute load average seen while it was measured, "min-max"

    @property
    def met(self) -> bool | None:
        return None if self.figure is None else bool(COMPARE[self.op](self.figure, self.threshold))

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "%":
            return f"{100 * value:.1f} %"
        return f"{value:.2f}{' s' if self.unit == 's' else 'x' if self.unit == 'x' else ''}"

    @property
    def goal(self) -> str:
        return f"{self.op} {self.show(self.threshold)}"


def _dig(data: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _segment(r: dict) -> Iterator[tuple]:
    yield "segment: end to end / model alone, tiny preset", ">=", 0.90, _dig(r, "efficiency", "efficiency")
    yield "segment: end to end / model alone, default preset", ">=", 0.90, _dig(r, "efficiency_product", "efficiency")
    yield "segment: peak memory growth 2048² -> 8192²", "<=", 0.15, r.get("memory_growth"), "%"


def _bulk(r: dict) -> Iterator[tuple]:
    calls = r.get("calls") or [None, None]
    yield "bulk (b1): one run / one CLI call per scene, 512² scenes", ">=", 3.0, _dig(calls, 0, "speedup")
    for index, size in ((0, "512²"), (1, "2048²")):
        yield (f"bulk (b1): runner overhead / scene compute, {size}", "<", 0.10,
               _dig(calls, index, "overhead_share"), "%")
    yield "bulk: 2 reader workers / 1", ">=", 1.7, _dig(r, "readers", "scaling_2")
    yield "bulk: torchrun 2 processes / 1 (scenes/s)", ">=", 1.7, _dig(r, "torchrun", "speedup_scenes")
    if str(r.get("device", "")).startswith("cuda"):
        yield "bulk on a GPU: end to end / model alone", ">=", 0.90, _dig(r, "gpu", "efficiency")


def _cpu_default(r: dict) -> Iterator[tuple]:
    for case in r.get("cases", []):
        model, scene = case["model"], case["scene"]
        need = 1.0 if "b0" in model else 1.8
        yield f"CPU default: torch / default, {model}, {scene}", ">=", need, case.get("torch_over_default")
        yield f"CPU default: same class as torch, {model}, {scene}", ">=", 0.999, case.get("same_class_as_torch"), "%"
        if "deepness_over_default" in case and scene != "320x256":
            yield f"CPU default: Deepness / default, {model}, {scene}", ">=", 1.5, case["deepness_over_default"]
        if scene == "320x256":
            yield (f"CPU default: start-up to first tile, {model}, {scene}", "<", 2.0,
                   _dig(case, "startup_to_first_tile_s", "default"), "s")
    bulk = r.get("bulk") or {}
    scenes = f"{bulk.get('scenes', 15)} x 512²"  # 15, or 3 in a quick run
    yield f"bulk (UNet light): one run / one process per scene, {scenes}", ">=", 3.0, bulk.get("bulk_over_one_by_one")
    yield (f"bulk (UNet light): per-scene overhead / model time, {scenes}", "<", 0.10,
           bulk.get("per_scene_overhead_share"), "%")
    # the same against the model's time within the bulk run: free of the VM's drift between two runs
    yield (f"bulk (UNet light): per-scene overhead / the model's time in the run, {scenes}", "<", 0.10,
           bulk.get("per_scene_overhead_share_in_run"), "%")
    # by the run's clock: the scenes' span, the work between them included, an overlapped publishing once
    yield (f"bulk (UNet light): the scenes' span less the model / model time, {scenes}", "<", 0.10,
           bulk.get("span_overhead_share"), "%")
    yield (f"bulk (UNet light): the scenes' span less the model / the model's time in the run, {scenes}", "<", 0.10,
           bulk.get("span_overhead_share_in_run"), "%")
    yield "CPU default: beside 2 busy loops / alone", "<=", 2.5, _dig(r, "busy", "ratio")


def _train(r: dict) -> Iterator[tuple]:
    yield "training: real data pipeline / tensors in memory", ">=", 0.90, r.get("best_ratio")


def _train_speed(r: dict) -> Iterator[tuple]:
    for family, f in (r.get("families") or {}).items():
        yield f"train speed, {family}: train / bare fp32 loop (s per tile)", "<=", 0.77, f.get("train_vs_bare")
        yield f"train speed, {family}: bare fp32 loop / train's step", ">=", 1.5, f.get("step_speedup")
        yield f"train speed, {family}: train / its own step", "<=", 1.15, f.get("pipeline_vs_step")


def _foundation(r: dict) -> Iterator[tuple]:
    yield ("foundation: frozen encoder, cached / recomputed features (an epoch's training tiles/s)", ">=", 2.0,
           _dig(r, "training", "epoch_speedup"))


def _label_efficiency_s2(r: dict) -> Iterator[tuple]:
    yield ("label efficiency (Sentinel-2): suggest / random mIoU after the last round, mean of seeds", ">=", 1.1,
           _dig(r, "summary", "ratio"))


def _prompted(r: dict) -> Iterator[tuple]:
    for row in r.get("models") or []:
        if row.get("click_s") is not None:
            yield f"prompted: one click once embedded, {row['model']}", "<", r.get("target_click_s", 0.3), \
                row["click_s"], "s"


def _label_panel(r: dict) -> Iterator[tuple]:
    yield ("label panel: the GUI thread's longest stall in a click once embedded (a large mask)", "<",
           r.get("target_stall_s", 0.25), r.get("longest_stall_s"), "s")


READERS: dict[str, Callable[[dict], Iterator[tuple]]] = {
    "train": _train, "train_speed": _train_speed, "segment": _segment, "bulk": _bulk, "cpu_default": _cpu_default,
    "label_efficiency_s2": _label_efficiency_s2, "foundation": _foundation, "prompted": _prompted,
    "label_panel": _label_panel}


def targets(doc: dict) -> list[Target]:
    """The targets of every section in ``doc`` (bench/run.py's results document) that has any."""
    found = []
    for section, entry in doc["sections"].items():
        reader = READERS.get(section)
        results = entry.get("results") if entry.get("status") == "ok" else None
        if reader is None:
            continue
        loads = entry.get("load") or {}
        load = f"{loads['min']:.1f}-{loads['max']:.1f}" if loads else ""
        for name, op, threshold, figure, *unit in reader(results or {}):
            found.append(Target(name, section, op, threshold, None if figure is None else float(figure),
                                unit[0] if unit else "x", load))
    return found


def _read_all(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_record(quick: bool = False, path: Path = RECORD) -> dict[str, Any]:
    """The last recorded figure of each target, of full runs or of ``quick`` ones."""
    return _read_all(path).get("quick" if quick else "full", {})


def write_record(found: list[Target], started: str, quick: bool = False, path: Path = RECORD) -> None:
    """Record the measured figures (kept: the earlier figures of targets this run did not measure)."""
    whole = _read_all(path)
    record = whole.get("quick" if quick else "full", {})
    for target in found:
        if target.figure is not None:
            record[target.name] = dict(asdict(target), met=target.met, run=started)
    whole.update({"note": "written by bench/run.py after each run (full and --quick runs apart); never by hand",
                  "quick" if quick else "full": dict(sorted(record.items()))})
    path.write_text(json.dumps(whole, indent=2) + "\n", encoding="utf-8")


def summary(found: list[Target], record: dict[str, Any]) -> str:
    """A markdown table: target, figure, met, load, and the last recorded figure with its run's date and load."""
    lines = ["| target | goal | figure | met | load (1-min) | last recorded | its load, run |",
             "|---|---|---|---|---|---|---|"]
    for t in found:
        last = record.get(t.name)
        met = {True: "yes", False: "**NO**", None: "not measured"}[t.met]
        before = (f"{t.show(last['figure'])} ({'met' if last.get('met') else 'not met'}) | {last.get('load') or '-'}, "
                  f"{str(last.get('run', ''))[:16]}") if last else "- | -"
        lines.append(f"| {t.name} | {t.goal} | {t.show(t.figure)} | {met} | {t.load or '-'} | {before} |")
    return "\n".join(lines)
