"""Text from files shown to a person: names (of classes, models, bands, files) from a model file, a catalogue or
the command line made inert and short before they reach a terminal or a log.

A name is data: a class called ``ESC[2J`` must not clear the user's screen, nor a bidirectional override turn
a line around. :func:`printable` shows every control character as its escape (``\\x1b``) and cuts a long name
with an ellipsis; JSON output keeps the full name.
"""

from __future__ import annotations

import re
from typing import Any

NAME_LIMIT = 80  # characters of a name on a terminal line (the JSON output keeps all of it)
# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text (bidi overrides, isolates)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any, limit: int | None = None, lines: bool = False) -> str:
    """``value`` as text safe to print: control characters shown as escapes (``lines``: newlines and tabs kept, for
    a whole message), cut to ``limit`` characters with an ellipsis when given."""
    text = (_CONTROL_BUT_LINES if lines else _CONTROL).sub(_escape, str(value))
    if limit is not None and len(text) > limit:
        text = text[:max(limit - 1, 1)] + "\u2026"
    return text


def name(value: Any) -> str:
    """A name for a terminal or log line: :func:`printable`, cut at :data:`NAME_LIMIT` characters."""
    return printable(value, NAME_LIMIT)
