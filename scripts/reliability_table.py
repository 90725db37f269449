"""The README's reliability table, made from the suite's own output (``test_output/reliability.json``).

    python scripts/reliability_table.py            # print the table
    python scripts/reliability_table.py --write    # replace the table between the README's markers

Run it after the reliability suite (``make test``, or ``pytest tests/reliability``): the counts are those of
that run, failures included.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "test_output" / "reliability.json"
README = REPO / "README.md"
START, END = "<!-- reliability-table: start -->", "<!-- reliability-table: end -->"
SUITES = {"cli": "command line (`python -m engine`)", "qgis_process": "`qgis_process` (the deployed plugin)"}
COLUMNS = [("cases_tried", "tried"), ("clear_errors", "clear error"), ("worked", "worked (edge cases)"),
           ("tracebacks", "traceback"), ("inputs_changed", "input changed"), ("left_behind", "left behind"),
           ("hangs", "hang"), ("code_executed", "code executed"), ("failed", "failed")]


def table(results: dict) -> str:
    """Markdown table of the sections in ``results`` (the ledger's JSON), one row per suite."""
    lines = ["| suite | " + " | ".join(title for _, title in COLUMNS) + " |",
             "| --- |" + " --- |" * len(COLUMNS)]
    for key, name in SUITES.items():
        if key not in results:
            continue
        row = results[key]
        cells = [str(len(row.get(k, [])) if k == "failed" else row.get(k, 0)) for k, _ in COLUMNS]
        lines.append(f"| {name}, {row.get('updated', '?')[:10]} | " + " | ".join(cells) + " |")
    failed = [f"{key}: {', '.join(results[key]['failed'])}" for key in SUITES if results.get(key, {}).get("failed")]
    if failed:
        lines += ["", "Failed: " + "; ".join(failed) + "."]
    return "\n".join(lines)


def replace_between_markers(text: str, block: str) -> str:
    """``text`` with the lines between the START and END markers replaced by ``block``."""
    try:
        head, rest = text.split(START + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}") from None
    return f"{head}{START}\n{block}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS, help="the suite's JSON (default: %(default)s)")
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        print(f"{args.results} does not exist: run the reliability suite first", file=sys.stderr)
        return 2
    block = table(json.loads(args.results.read_text()))
    if args.write:
        README.write_text(replace_between_markers(README.read_text(), block))
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
