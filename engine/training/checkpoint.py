"""The resumable training checkpoint ``<output>.ckpt``, and a training resumed from it.

Written atomically at the end of every epoch. Everything that is not a tensor or a number is stored as JSON
text, so the file loads with ``torch.load(weights_only=True)`` and never unpickles arbitrary objects. A run
resumes from it only with the settings it was made with, less those in ``RESUMABLE_CHANGES``; whether it had
already finished (its epochs, early stopping, its time budget) is said in one line.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from ..config import DataConfig, TrainConfig
from ..errors import BundleError, ConfigError, mention
from ..io.atomic import atomic_file
from ..runtime.environment import require

CHECKPOINT_FORMAT = "dualstream-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_SUFFIX = ".ckpt"
RESUME = mention("train.resume")  # each front end renders it as its own control
JSON_PARTS = ("schedule", "history", "best", "configs")  # stored as JSON text: no unpickling of them


def checkpoint_path(output: str | os.PathLike) -> Path:
    """The checkpoint of the bundle path ``output``."""
    return Path(str(output) + CHECKPOINT_SUFFIX)


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) random states, as tensors and JSON text."""
    import numpy as np

    torch = require("torch")
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": json.dumps(random.getstate()),
        "numpy": json.dumps([np_state[0], np_state[1].tolist(), *[float(v) if isinstance(v, float) else int(v)
                                                                  for v in np_state[2:]]]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only where CUDA is available)."""
    import numpy as np

    torch = require("torch")
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = json.loads(state["numpy"])
    np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def detached_copy(value: Any) -> Any:
    """``value`` (a state dict, an optimiser's state, nested dicts and lists) with every tensor copied to the CPU,
    so it can be written while training changes the original."""
    if isinstance(value, require("torch").Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: detached_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(detached_copy(v) for v in value)
    return value


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> str:
    """Write ``state`` (model, optimizer, scaler and rng states, epoch, finished, ``JSON_PARTS``) atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
               **{key: value for key, value in state.items() if key not in JSON_PARTS},
               **{f"{key}_json": json.dumps(state[key]) for key in JSON_PARTS}}
    with atomic_file(Path(path)) as handle:  # never a renamed but empty checkpoint after a crash
        require("torch").save(payload, handle)
    return str(path)


def load_checkpoint(path: str | os.PathLike, tensors: bool = True) -> dict[str, Any]:
    """The payload of a checkpoint written by :func:`save_checkpoint`, its ``JSON_PARTS`` decoded (``weights_only``:
    no arbitrary unpickling); ``tensors`` False: its tensors mapped from the file, not read (for its settings)."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"Training checkpoint '{path}' does not exist; run without {RESUME} to start afresh.")
    try:
        payload = require("torch").load(str(path), map_location="cpu", weights_only=True, mmap=not tensors)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for damaged or foreign files
        raise BundleError(f"Training checkpoint '{path}' cannot be read ({str(exc)[:200]}); it is damaged or not "
                          f"a DualStream checkpoint. Delete it and run without {RESUME}.") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise BundleError(f"'{path}' is not a DualStream training checkpoint; delete it and run without "
                          f"{RESUME}.")
    if int(payload.get("version", 0)) > CHECKPOINT_VERSION:
        raise BundleError(f"Training checkpoint '{path}' was written by a newer DualStream (format "
                          f"v{payload['version']}); update DualStream or run without {RESUME}.")
    try:
        for key in JSON_PARTS:
            payload[key] = json.loads(payload.pop(f"{key}_json"))
    except (KeyError, json.JSONDecodeError) as exc:
        raise BundleError(f"Training checkpoint '{path}' is incomplete ({exc}); delete it and run without "
                          f"{RESUME}.") from exc
    return payload


# Settings that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {
    "train": {"resume", "device", "num_workers", "epochs", "early_stop_patience", "preview_tiles", "output",
              "time_budget"},
    "model": {"pretrained"},
}


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings that differ between a checkpoint and this run (but resumable ones), in words."""
    out = []
    for section in ("model", "data", "train"):
        old, new = _with_defaults(section, saved.get(section, {})), _with_defaults(section, current.get(section, {}))
        for key in sorted(set(old) | set(new)):
            if key not in RESUMABLE_CHANGES.get(section, ()) and old.get(key) != new.get(key):
                out.append(f"{section}.{key}: checkpoint {old.get(key)!r}, now {new.get(key)!r}")
    return out


def _with_defaults(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's settings with the defaults of settings added since (and old names mapped), so that a
    checkpoint of an earlier version compares equal to the same run today; unreadable ones stay as they are."""
    from ..models import AutoModelConfig

    cls = {"model": AutoModelConfig, "data": DataConfig, "train": TrainConfig}[section]
    try:
        values = cls.from_dict(values).to_dict()
    except Exception:  # noqa: BLE001 - any unreadable old section is compared as saved
        return values
    for key in ("train_scenes", "val_scenes"):  # how messages name a scene's sources: no setting of the run
        if isinstance(values.get(key), list):
            values[key] = [{k: v for k, v in scene.items() if k != "names"} if isinstance(scene, dict) else scene
                           for scene in values[key]]
    return values


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    require("torch").manual_seed(seed)


def early_stop_due(best: dict[str, Any], patience: int | None) -> bool:
    """No validation gain for ``patience`` epochs (None: never)."""
    return patience is not None and best["score"] is not None and best["since"] >= patience


def seconds_spent(history: list[dict[str, Any]]) -> float:
    """Seconds of the epochs in the history (earlier runs of a resumed training included)."""
    return sum(float(e.get("seconds") or 0.0) for e in history)


def resume(files: Any) -> tuple[int, bool, list[dict[str, Any]], dict[str, Any]]:
    """Restore the run of ``files`` (an .outputs.TrainFiles: its model, optimisation and budget) from its checkpoint
    (ConfigError when it was made with other settings or does not fit the model) and say where it goes on; returns
    its first epoch, whether it had finished, its history and best epoch."""
    paths, cfg, optim, budget = files.paths, files.cfg, files.optim, files.budget
    state = load_checkpoint(paths.checkpoint)
    diffs = config_differences(state["configs"], files.record.configs)
    if diffs:
        raise ConfigError(f"Cannot resume from '{paths.checkpoint}': it was made with other settings ("
                          + "; ".join(diffs) + f"). Use the same settings, or run without {RESUME}.")
    try:
        files.restore_partial(state)  # a canceled run's best bundle, kept in its checkpoint
        files.model.load_state_dict(state["model"])
        optim.optimizer.load_state_dict(state["optimizer"])
        if files.average is not None:
            if not state.get("average"):
                raise KeyError("it holds no weight average (train.weight_average was off)")
            files.average.load_state_dict(state["average"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ConfigError(f"Checkpoint '{paths.checkpoint}' does not fit this model ({str(exc)[:300]}); run "
                          f"without {RESUME}.") from exc
    # Group LRs follow from this run's settings (epochs may have been extended).
    for group in optim.optimizer.param_groups:
        factor = {"vision": cfg.vision_lr_factor, "aux": cfg.aux_lr_factor}.get(group["name"],
                                                                               group.get("factor", 1.0))
        group["base_lr"] = cfg.learning_rate * factor
    optim.schedule.load_state_dict(state["schedule"])
    if state.get("scaler"):  # a disabled scaler ignores it
        optim.scaler.load_state_dict(state["scaler"])
    restore_rng_state(state["rng"])
    history, best = list(state["history"]), dict(state["best"])
    epoch, total_epochs = int(state["epoch"]), cfg.total_epochs
    # A finished training goes on when its epochs were raised, unless it had stopped early (and still would:
    # a raised early_stop_patience lets it go on too). The schedule stretches to the new length.
    finished = epoch >= total_epochs or (bool(state["finished"]) and early_stop_due(best, cfg.early_stop_patience))
    if not finished and budget.limited and seconds_spent(history) >= budget.seconds:
        finished = True
        # settings named through mention(): each front end writes its own control (QGIS's parameter, a flag)
        why = f"training had used its {budget.describe()}; raise {mention('train.time_budget')} to go on"
    elif finished:
        why = (f"training had stopped early; raise {mention('train.early_stop_patience')} to go on"
               if epoch < total_epochs else f"training had finished; raise {mention('train.epochs')} to go on")
    else:
        why = f"training had finished there; going on to epoch {total_epochs}" if state["finished"] else ""
    files.place.callback.info(f"Resuming from '{paths.checkpoint}' after epoch {epoch}{f' ({why})' if why else ''}.")
    return epoch + 1, finished, history, best



def resumed_choices(chosen: Any, asked: tuple[Any, Any, Any], given: Any) -> None:
    """On resume, the settings this version chose for the user (changed from ``asked``, the run as asked, or
    automatic ones left unset) that differ from the checkpoint's are taken back to the checkpoint's, so a training
    started before an upgrade goes on as it was made (settings given now must still match: :func:`resume`).
    Changes ``chosen`` (``training.choice.Chosen``) in place: its choices of them give way to one saying so."""
    from ..models import AutoModelConfig
    from .auto import AUTO_SETTINGS
    from .choice import Choice

    path = checkpoint_path(chosen.train.output)
    if not chosen.train.resume or not path.is_file():
        return
    saved = load_checkpoint(path, tensors=False)["configs"]  # resume() reads the weights once, later
    classes = {"model": AutoModelConfig, "data": DataConfig, "train": TrainConfig}
    for index, section in enumerate(("model", "data", "train")):
        now, before = getattr(chosen, section).to_dict(), asked[index].to_dict()
        old = _with_defaults(section, saved.get(section, {}))
        automatic = {k for k in now if now[k] != before.get(k)
                     or (f"{section}.{k}" in AUTO_SETTINGS and f"{section}.{k}" not in given)}
        differ = sorted(k for k in automatic if k in old and old[k] != now[k])
        if not differ:
            continue
        setattr(chosen, section, classes[section].from_dict({**now, **{k: old[k] for k in differ}}))
        values: dict[str, Any] = {}
        for key in differ:  # a nested setting (augment) by the parts that differ
            if isinstance(old[key], dict) and isinstance(now[key], dict):
                values.update({f"{key}.{k}": v for k, v in old[key].items() if now[key].get(k) != v})
            else:
                values[f"{section}.{key}"] = old[key]
        chosen.choices = [c for c in chosen.choices if not any(_setting(k) in differ for k in c.values)]
        chosen.choices.append(Choice(values, "the checkpoint's, kept on resuming it (this version would choose "
                                             "otherwise; give the setting to change it)"))


def _setting(key: str) -> str:
    """The setting a choice's key names: ``data.tile_size`` -> ``tile_size``, ``augment.scale_range`` -> ``augment``."""
    parts = key.split(".")
    return parts[1] if parts[0] in ("model", "data", "train") and len(parts) > 1 else parts[0]
