"""docs/benchmarks.md is today's figures, not a diary (issue 79, item 12): short, short table cells, every bench
section with the command that reproduces it and the machine and date of its figures, and every link into it from
the other documents lands on one of its headings."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
MACHINES = ("VM", "EPYC", "H100", "H200")


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_the_document_is_short_and_its_table_cells_are_short():
    text = DOC.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 600
    cells = [cell.strip() for line in text.splitlines() if line.startswith("|") for cell in line.split("|")[1:-1]]
    assert cells and max(len(cell) for cell in cells) <= 200, max(cells, key=len)


def test_every_target_row_names_its_machine_and_every_bench_its_command():
    sections = _sections(DOC.read_text(encoding="utf-8"))
    rows = [line for line in sections["Targets"].splitlines() if line.startswith("| ") and not line.startswith(
        "| target")]
    assert len(rows) >= 15
    for row in rows:
        machine = row.split("|")[3]
        assert any(name in machine for name in MACHINES) and re.search(r"2026-11-2\d", machine), row
    for title, body in sections.items():
        if title in ("Targets", "On a GPU"):
            continue
        assert re.search(r"`[^`]*(python|make)[^`]*`|```bash", body), f"section {title!r} gives no command"
        assert re.search(r"2026-11-2\d", body) and any(name in body for name in MACHINES), title


def test_links_into_the_benchmarks_land_on_a_heading():
    anchors = {_slug(h) for h in re.findall(r"^#{1,4} (.+)$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)}
    links = [(path.name, anchor) for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
             for anchor in re.findall(r"benchmarks\.md#([\w-]+)", path.read_text(encoding="utf-8"))]
    assert links and [link for link in links if link[1] not in anchors] == []
