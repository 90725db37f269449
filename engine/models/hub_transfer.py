"""One download from a Hugging Face hub, watched: progress in words, stalls ended, failures told with the fix.

The transfer runs in a worker thread while the calling thread reports its progress (a line at each tenth of the
whole or every quarter of the stall time, and ``callback.progress`` under ``Stage.DOWNLOAD``), says what the worker
has to say, checks cancellation and ends a transfer under the rule of every network read (``engine.io.network``:
under 1 KiB/s for ``DUALSTREAM_NETWORK_STALL_S`` seconds, 60). Only the calling thread talks to the log and the
callback, so a QGIS feedback object is used from its own thread. A transfer given up leaves what
``engine.io.network.KEEP_PARTIAL`` says: the bytes it had, continued by the next run.
"""

from __future__ import annotations

import io
import queue
import threading
from pathlib import Path
from typing import Any, Callable

from ..callbacks import Callback, Stage
from ..errors import ModelError
from ..io.network import KEEP_PARTIAL, Stall, Watch, size_text


class Transfer:
    """What the worker thread gets: ``bar`` (a quiet tqdm class; :meth:`read` sums the bytes of the bars
    huggingface_hub opens, from any thread), ``say`` (a line the calling thread logs), the events ``stop`` (set: the
    download was given up, stop writing) and ``waited`` (set: waiting on another run, which is no stall)."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self.bars: list[Any] = []
        self.lock = threading.Lock()
        self.lines: queue.Queue[str] = queue.Queue()
        self.stop = threading.Event()
        self.waited = threading.Event()
        transfer = self

        class Bar(tqdm):  # for tqdm_class=: draws nothing, and read() reads its counts
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs.pop("name", None)
                kwargs.update(file=io.StringIO(), disable=False, mininterval=3600)  # drawn nowhere
                super().__init__(*args, **kwargs)
                # the file bars of a snapshot feed the "Reconstructing" one; "Downloading bytes" counts them again
                if kwargs.get("unit") == "B" and not str(kwargs.get("desc", "")).startswith("Downloading bytes"):
                    with transfer.lock:
                        transfer.bars.append(self)

        self.bar = Bar

    def read(self) -> tuple[int, int]:
        """(bytes done, bytes expected so far)."""
        with self.lock:
            done = int(sum(bar.n for bar in self.bars))
            total = int(sum(bar.total or 0 for bar in self.bars))
        return done, max(total, done)

    def kept(self) -> int:
        """Bytes that were on disk before this run (a continued file's start): not part of the rate."""
        with self.lock:
            return int(sum(getattr(bar, "initial", 0) or 0 for bar in self.bars))

    def say(self, line: str) -> None:
        self.lines.put(line)

    def drain(self, log: Callable[[str], None]) -> None:
        while not self.lines.empty():
            log(self.lines.get_nowait())


def run_watched(hub_id: str, endpoint: str, work: Callable[[Transfer], str], log: Callable[[str], None],
                callback: Callback | None, describe: Callable[[BaseException], ModelError]) -> Path:
    """``work(transfer)`` (the download) in a worker thread, reported, with stalls ended (``transfer.stop`` set).
    Raises ModelError where the download stalled or failed (``describe`` turns the library's error into one),
    CanceledError where the callback asked to stop."""
    transfer = Transfer()
    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            outcome["path"] = work(transfer)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which explains it
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name=f"download {hub_id}", daemon=True)
    thread.start()
    try:
        _watch(hub_id, endpoint, thread, transfer, log, callback)
    finally:
        transfer.stop.set()  # given up or done: the worker writes no further byte
    transfer.drain(log)
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, ModelError):  # already said in words (disk full, hash differs)
            raise error
        said, (done, total) = describe(error), transfer.read()
        if KEEP_PARTIAL and 0 < done < total:  # the partial stays in the cache (engine.models.hub_resume)
            said = ModelError(f"{said} The {size_text(done)} of {size_text(total)} fetched so far are kept in the "
                              f"Hugging Face cache: running it again continues from there.")
        raise said from error
    done, _ = transfer.read()
    if callback is not None:
        callback.progress(max(done, 1), max(done, 1), Stage.DOWNLOAD)
    return Path(outcome["path"])


def _watch(hub_id: str, endpoint: str, thread: threading.Thread, transfer: Transfer, log: Callable[[str], None],
           callback: Callback | None) -> None:
    watch = Watch(Stall.rule())
    while thread.is_alive():
        thread.join(0.2)
        transfer.drain(log)
        done, total = transfer.read()
        if callback is not None:
            callback.progress(done, total or 1, Stage.DOWNLOAD)
            callback.check_canceled()
        if transfer.waited.is_set():  # another run holds the file: waiting on it is no stall
            transfer.waited.clear()
            watch.waiting()
        why = watch.arrived(done - watch.done)
        share = done / total if total else 0.0
        if done and share < 1 and watch.report_due(share):
            rate = (done - transfer.kept()) / max(watch.seconds, 1e-9)
            # marked as progress by its channel: a front end may keep it out of what it shows last
            (callback.progress_line if callback is not None else log)(
                f"Downloading '{hub_id}': {share:.0%} ({size_text(done)} of {size_text(total)}, "
                f"{size_text(rate)}/s)")
        if why:
            kept = (" the bytes already fetched are kept in the Hugging Face cache and the next run continues from "
                    "them." if KEEP_PARTIAL else " nothing was kept.")
            raise ModelError(
                f"Downloading '{hub_id}' from {endpoint} stalled: {why}, {size_text(done)}"
                f"{f' of {size_text(total)}' if total else ''} in all ({watch.stall.said()}). Check the network (and "
                f"a proxy in HTTPS_PROXY) and run it again:{kept}")


def licence_line(hub_id: str, endpoint: str, info: object) -> str:
    """The repository's licence in words, from its model card's front matter (the API's ``cardData``)."""
    card = getattr(info, "card_data", None) or {}  # a ModelCardData, or a plain mapping
    licence, name, link = (getattr(card, key, None) or (card.get(key) if hasattr(card, "get") else None)
                           for key in ("license", "license_name", "license_link"))
    page = f"{endpoint.rstrip('/')}/{hub_id}"
    if not licence:
        return f"'{hub_id}' states no licence in its model card; read {page} before using its weights."
    said = f"{licence} ({name})" if name and name != licence else str(licence)
    where = link if link and str(link).startswith("http") else page
    gated = getattr(info, "gated", False)
    return (f"'{hub_id}' is released under the licence {said}: read it at {where} before using the weights"
            f"{' (a gated repository: downloading needs its licence accepted on the hub)' if gated else ''}.")


def explain(hub_id: str, endpoint: str, exc: BaseException, what: str, cache: str) -> ModelError:
    """A huggingface_hub error as a ModelError that names ``hub_id``, the endpoint and what to do."""
    from huggingface_hub import errors as hf
    from huggingface_hub import get_token

    page = f"{endpoint.rstrip('/')}/{hub_id}"
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    elsewhere = (f"Without network, download it on a machine that has it (`hf download {hub_id}`) and copy the "
                 f"cache folder models--{hub_id.replace('/', '--')} into {cache}, or pass a local folder holding "
                 f"{what} instead of the id.")
    if isinstance(exc, hf.GatedRepoError):  # where to accept its licence, for a run with no token and with one
        tokens = f"{endpoint.rstrip('/')}/settings/tokens"
        if not get_token():
            return ModelError(f"'{hub_id}' is a gated repository and no token was given: accept its licence at {page} "
                              f"(signed in), then give a token of that account: set HF_TOKEN to a read token (made at "
                              f"{tokens}) or run `hf auth login`, and run it again.")
        return ModelError(f"'{hub_id}' is a gated repository and the token given (HF_TOKEN or `hf auth login`) has no "
                          f"access to it (yet): accept its licence at {page} signed in to the account the token "
                          f"belongs to (the authors may review the request first; the page says when access is "
                          f"granted), then run it again.")
    if isinstance(exc, hf.RepositoryNotFoundError):
        return ModelError(f"There is no repository '{hub_id}' at {endpoint} (or it is private: then set HF_TOKEN or "
                          f"run `hf auth login`). Check the id (owner/name).")
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return ModelError(f"'{hub_id}' at {endpoint} has no file {what}; check the file name on {page}.")
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", "an error")
        if status in (401, 403):
            return ModelError(f"{endpoint} refused '{hub_id}' (HTTP {status}): if it is gated or private, accept its "
                              f"licence at {page} signed in, then give a token of that account (set HF_TOKEN, or run "
                              f"`hf auth login`), and run it again.")
        return ModelError(f"Downloading '{hub_id}' from {endpoint} failed: the hub answered HTTP {status} ({first}). "
                          f"Try again later. {elsewhere}")
    return ModelError(f"Could not download '{hub_id}' from {endpoint} ({first}). Check the network (and a proxy in "
                      f"HTTPS_PROXY). {elsewhere}")
