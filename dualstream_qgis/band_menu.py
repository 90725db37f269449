"""The bands typed in a text field (Segment's Bands, the labelling panel's STAC bands) and the picker menu beside it.

The text is read by the engine's one rule for band lists (``engine.api.parse_band_list``), as the algorithms' Bands
parameter is when it runs: commas or semicolons between bands, and a blank entry ("red,,blue") refused with the
engine's message, never read as red,blue. The menu lists the bands on offer; a click adds one at the end, a second
click removes it. Qt widgets only: no Processing GUI here, so the panel imports it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from .engine_bridge import engine_api


def chosen_bands(text: str, key: str) -> list[str]:
    """The bands ``text`` names, in its order; ConfigError naming the setting ``key`` for a blank entry."""
    return engine_api().parse_band_list(text or None, key) or []


def toggled(text: str, token: str, key: str = "segment.bands") -> str:
    """``text`` with ``token`` added at the end, or removed when it is there (case-insensitive); ConfigError when
    the engine refuses ``text``."""
    tokens = chosen_bands(text, key)
    lowered = [t.lower() for t in tokens]
    if token.lower() in lowered:
        tokens.pop(lowered.index(token.lower()))
    else:
        tokens.append(token)
    return ",".join(tokens)


def fill_band_menu(menu, edit, choices: Sequence[tuple[str, str]], key: str) -> None:
    """``menu`` (a QMenu) filled with ``choices`` (what a click writes into ``edit``, what the menu shows), those
    ``edit``'s text names checked. Text the engine refuses is said first, and no band is offered until it is mended
    (a click would drop the entry the user typed wrong)."""
    menu.clear()
    try:
        chosen: set[str] | None = {token.lower() for token in chosen_bands(edit.text(), key)}
    except engine_api().ConfigError as exc:
        refused = menu.addAction(str(exc))
        refused.setEnabled(False)
        chosen = None
    for token, shown in choices:
        action = menu.addAction(shown)
        action.setCheckable(True)
        action.setEnabled(chosen is not None)
        action.setChecked(chosen is not None and token.lower() in chosen)
        action.triggered.connect(lambda _checked=False, token=token: edit.setText(toggled(edit.text(), token, key)))
