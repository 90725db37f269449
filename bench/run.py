"""Run the DualStream benchmarks and write bench_output/results.json and results.md.

Sections are listed in :data:`SECTIONS`; each is a module ``bench/sections/<name>.py`` defining ``TITLE``
and ``run(ctx: BenchContext) -> dict``. The returned dict is stored under ``sections.<name>`` in
results.json; its optional ``"markdown"`` entry becomes the section's text in results.md. To add a section,
write the module and add its name here (and its targets' reader in ``bench/targets.py``). A failing section is
recorded (with its error) and makes the run exit with status 1 after the other sections ran.

Every section runs under a watch of the 1-minute load average (``os.getloadavg``). At the end the run prints
every target with its figure, met or not, the load it ran under and the last recorded run's figure
(``bench/targets.py``); the run then records its figures in ``bench/last_results.json`` (full and quick runs
apart).

Usage: ``python bench/run.py [--quick] [--only NAME ...] [--device auto|cpu|cuda] [--output DIR]``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import BenchContext  # noqa: E402 - needs the repository root on sys.path first
from bench.targets import read_record, summary, targets, write_record  # noqa: E402

#: Benchmark sections, run in this order (module names in bench/sections/).
SECTIONS: list[str] = [
    "environment",
    "model_cost",
    "train",
    "train_speed",
    "segment",
    "bulk",
    "onnx",
    "cpu_default",
    "foundation",
    "polygons",
    "label_efficiency",
    "label_efficiency_s2",
    "remote",
    "prompted",
    "label_panel",
    "change",
]


def _jsonable(value):
    """Make numpy/torch scalars and paths JSON-serialisable."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


class LoadWatch:
    """The 1-minute load average, sampled every ``every`` seconds while a section runs (min, median, max)."""

    def __init__(self, every: float = 2.0):
        self.samples = [os.getloadavg()[0]]
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def figures(self) -> dict[str, float]:
        return {"min": min(self.samples), "median": statistics.median(self.samples), "max": max(self.samples)}


def run_sections(ctx: BenchContext, names: list[str]) -> dict:
    """Run the named sections; return the results document (also for failed sections)."""
    doc = {"started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "quick": ctx.quick,
           "device": ctx.device, "sections": {}}
    for name in names:
        print(f"[bench] {name} ...", flush=True)
        start = time.perf_counter()
        entry: dict = {"status": "ok"}
        with LoadWatch() as load:
            try:
                module = importlib.import_module(f"bench.sections.{name}")
                entry["title"] = getattr(module, "TITLE", name)
                entry["results"] = _jsonable(module.run(ctx))
            except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others' results
                entry.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
                print(entry["traceback"], file=sys.stderr)
        entry["load"] = load.figures()
        entry["seconds"] = round(time.perf_counter() - start, 2)
        print(f"[bench] {name}: {entry['status']} in {entry['seconds']} s", flush=True)
        doc["sections"][name] = entry
    return doc


def to_markdown(doc: dict) -> str:
    lines = ["# DualStream benchmarks", "", f"Run {doc['started']} (quick={doc['quick']}, device={doc['device']}).", "",
             "## Targets", "", doc.get("targets_markdown", ""), ""]
    for name, entry in doc["sections"].items():
        load = entry.get("load")
        lines += [f"## {entry.get('title', name)}", ""]
        if load:
            lines += [f"_1-minute load average during the section: {load['min']:.1f}-{load['max']:.1f} (median "
                      f"{load['median']:.1f}) on {os.cpu_count()} cores._", ""]
        if entry["status"] == "ok":
            lines.append(entry["results"].get("markdown", "") if isinstance(entry["results"], dict) else "")
        else:
            lines.append(f"**FAILED**: {entry['error']}")
        lines += ["", f"_section time: {entry['seconds']} s_", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the DualStream benchmarks.")
    parser.add_argument("--output", type=Path, default=REPO / "bench_output", help="folder for results.json/.md")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats (smoke run)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true",
                        help="compare with bench/last_results.json but leave it as it is")
    args = parser.parse_args(argv)
    realdata = os.environ.get("DUALSTREAM_REALDATA")
    ctx = BenchContext(output_dir=args.output, quick=args.quick, device=args.device, seed=args.seed,
                       realdata=Path(realdata) if realdata else None)
    args.output.mkdir(parents=True, exist_ok=True)
    doc = run_sections(ctx, args.only or SECTIONS)
    found = targets(doc)
    doc["targets"] = [dict(vars(t), met=t.met) for t in found]
    doc["targets_markdown"] = summary(found, read_record(args.quick))
    (args.output / "results.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    (args.output / "results.md").write_text(to_markdown(doc), encoding="utf-8")
    kind = "quick runs (smaller cases)" if args.quick else "full runs"
    print(f"\n[bench] targets; 'last recorded': the last of the {kind} in bench/last_results.json; load: the "
          f"1-minute load average on {os.cpu_count()} cores while the section ran:\n{doc['targets_markdown']}\n")
    if not args.no_record and any(t.figure is not None for t in found):
        write_record(found, doc["started"], args.quick)
    print(f"[bench] wrote {args.output / 'results.json'} and {args.output / 'results.md'}")
    return 0 if all(e["status"] == "ok" for e in doc["sections"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
