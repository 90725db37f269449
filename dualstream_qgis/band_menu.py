"""The bands typed in a text field (Segment's Bands, the labelling panel's STAC bands) and the picker menu beside it.

The text is read by the engine's one rule for band lists (``engine.api.parse_band_list``), as the algorithms' Bands
parameter is when it runs: commas or semicolons between bands, and a blank entry ("red,,blue") refused with the
engine's message, never read as red,blue. The menu lists the bands on offer; a click adds one at the end, a second
click removes it. A STAC item's bands are offered by asset key (:func:`stac_choices`), the one name that always
picks one band: a common name can be shared (Sentinel-2's B05, B06 and B07 are all ``rededge``, which then picks
none). Qt widgets only: no Processing GUI here, so the panel imports it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .engine_bridge import engine_api


def chosen_bands(text: str, key: str) -> list[str]:
    """The bands ``text`` names, in its order; ConfigError naming the setting ``key`` for a blank entry."""
    return engine_api().parse_band_list(text or None, key) or []


def stac_item_bands(value: Any) -> list[Any] | None:
    """The bands (the engine's ``StacBand``) of the STAC item a widget's value names, when it is a local file (a URL
    is not read from a dialog: the read may wait on a server); None when unknown."""
    path = str(value or "").strip()
    if not path or not Path(path.partition("#")[0]).is_file():
        return None
    api = engine_api()
    try:
        return list(api.read_stac_item(path).bands)
    except api.DualStreamError:
        return None


def stac_choices(value: Any) -> list[tuple[str, str]]:
    """(what a click writes, what the menu shows) for each band of the STAC item ``value`` names: its asset key,
    shown with its common name and band name where they say more (``B05 (rededge)``, ``blue (B02)``); [] when the
    item is unknown. Keys are unique in an item, so no entry is offered twice."""
    choices = []
    for band in stac_item_bands(value) or []:
        names = [n for n in dict.fromkeys((band.common_name or "", band.name)) if n and n.lower() != band.key.lower()]
        choices.append((band.key, f"{band.key} ({', '.join(names)})" if names else band.key))
    return choices


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
