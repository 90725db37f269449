"""The one loop that brings a file's bytes into its partial file (``<name>.incomplete``), continuing from the
bytes an earlier try kept, for every download (a ready model's file: ``engine.ready.prepare``; a hub's weights:
``engine.models.hub_resume``). The callers open the connection their way (urllib, huggingface_hub's session) and
hand each answer's status, headers and body here; what an answer to a Range request means is decided here only.

**The policy** for a partial file of ``kept`` bytes, asked for again from byte ``kept``:

- a 206 whose ``Content-Range`` starts at ``kept``: the body is appended (said: "Continuing ...");
- a 200 (the server or a proxy ignored the Range request): the body is the whole file; the kept bytes are dropped,
  said, and the file is written from its start;
- a 206 whose ``Content-Range`` is missing or starts elsewhere, or a 416 (the kept bytes reach past the file): the
  body is not the rest of this file, so nothing of it is written; the partial file is deleted, said, and the file
  is asked for again from byte 0 (once: an answer from zero is the whole file whatever its status).

Starting over is chosen over keeping the partial for a later run: a server that answers a Range request with other
bytes will do so again, so a kept partial could never be continued, and the checksum of the whole file (each
caller's) still guards what is kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from .network import size_text


@dataclass
class Answer:
    """An HTTP answer as the loop reads it: ``status`` (416: the asked range starts past the file), the
    ``Content-Range`` header ("" when absent) and the body's blocks as they arrive."""

    status: int
    content_range: str
    blocks: Iterable[bytes]


#: ``open_from(byte)``: the answer to a GET from ``byte`` (no Range header for 0), as a context manager that closes it
Opener = Callable[[int], AbstractContextManager[Answer]]


def kept_bytes(part: Path) -> int:
    """Bytes of ``part`` on disk (0 when there is none)."""
    return part.stat().st_size if part.exists() else 0


def start_byte(status: int, content_range: str, kept: int) -> int | None:
    """Where an answer to a request from byte ``kept`` starts in the file: ``kept`` (continue), 0 (the whole file:
    start over) or None (other bytes than asked: not to be written). The policy in the module's docstring."""
    if not kept:
        return 0
    if status == 416:
        return None
    if status != 206:
        return 0
    found = re.match(r"\s*bytes\s+(\d+)-", content_range)
    return kept if found and int(found.group(1)) == kept else None


def fetch_into(part: Path, open_from: Opener, name: str, say: Callable[[str], None], *,
               size: int | None = None, moved: Callable[[int], None] | None = None,
               stopped: Callable[[], bool] = lambda: False, announce: bool = True) -> int:
    """``part`` brought forward from where it ends by one answer of ``open_from`` (two where the first must be
    started over), under the module's policy; returns the bytes in ``part`` afterwards.

    Args:
        part: the partial file (made when missing).
        open_from: opens the answer to a GET from a byte; its errors pass through (the bytes written stay).
        name: what the file is called in the lines said ("model.safetensors of 'owner/name'", a URL).
        say: takes a line for the user.
        size: the file's announced size, when known: a longer partial is started over, a longer body cut short.
        moved: called with the bytes in ``part`` as they change (progress).
        stopped: True when the download was given up: writing stops, the bytes so far stay.
        announce: say "Continuing ..." when the answer continues kept bytes (False for retries within a run).
    """
    kept = kept_bytes(part)
    if size is not None and kept > size:
        say(f"The partial download of {name} ({size_text(kept)}) is larger than the file ({size_text(size)}); "
            f"it was deleted and the file is downloaded from its start.")
        part.unlink()
        kept = 0
    with open_from(kept) as answer:
        start = start_byte(answer.status, answer.content_range, kept)
        if start is not None:
            _say_start(start, kept, name, part, size, say, announce)
            return _write(part, start, answer.blocks, size, moved, stopped)
        asked = ("416 (the kept bytes reach past its end)" if answer.status == 416 else
                 f"'{answer.content_range}'" if answer.content_range else "no Content-Range")
    say(f"The server answered the Range request for {name} from byte {kept} with {asked}, not the rest of the file: "
        f"the partial file ({size_text(kept)}, {part}) was deleted and the file is downloaded from its start.")
    part.unlink()
    if moved:
        moved(0)
    with open_from(0) as answer:
        return _write(part, 0, answer.blocks, size, moved, stopped)


def _say_start(start: int, kept: int, name: str, part: Path, size: int | None, say: Callable[[str], None],
               announce: bool) -> None:
    if kept and not start:
        say(f"The server ignored the Range request for {name} (it answered the whole file): the {size_text(kept)} "
            f"kept are dropped and the file is downloaded from its start; the server (or a proxy between) does not "
            f"let an interrupted download continue.")
    elif start and announce:
        of = f" of {size_text(size)}" if size else ""
        say(f"Continuing {name} from {size_text(start)}{of} kept by an earlier run ({part}).")


def _write(part: Path, start: int, blocks: Iterable[bytes], size: int | None, moved: Callable[[int], None] | None,
           stopped: Callable[[], bool]) -> int:
    """``blocks`` written into ``part`` from byte ``start`` (cut there first), each as it comes: a break loses none
    of what arrived."""
    done = start
    with part.open("r+b" if part.exists() else "wb") as out:
        out.seek(start)
        out.truncate()
        if moved:
            moved(done)
        for block in _until(blocks, stopped):
            out.write(block)
            done += len(block)
            if moved:
                moved(done)
            if size is not None and done > size:  # more than announced: the caller's size check says so
                break
        out.flush()
        os.fsync(out.fileno())
    return done


def _until(blocks: Iterable[bytes], stopped: Callable[[], bool]) -> Iterator[bytes]:
    for block in blocks:
        if stopped():
            return
        if block:
            yield block
