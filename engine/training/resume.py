"""Resuming a training from its checkpoint: the settings checked against the checkpoint's, the weights, optimiser,
schedule, scaler and random state restored, and whether the run had already finished (its epochs, early stopping
or its time budget), said in one line; and the two rules that decision shares with the epochs (early stopping due,
the seconds spent)."""

from __future__ import annotations

from typing import Any

from ..config import TrainConfig
from ..errors import ConfigError, mention
from .checkpoint import config_differences, load_checkpoint, restore_rng_state
from .outputs import RESUME, TrainFiles
from .parts import Optimisation, RunPaths, TimeBudget, TrainRecord


def early_stop_due(best: dict[str, Any], patience: int | None) -> bool:
    """No validation gain for ``patience`` epochs (None: never)."""
    return patience is not None and best["score"] is not None and best["since"] >= patience


def seconds_spent(history: list[dict[str, Any]]) -> float:
    """Seconds of the epochs in the history (earlier runs of a resumed training included)."""
    return sum(float(e.get("seconds") or 0.0) for e in history)


def resume(paths: RunPaths, record: TrainRecord, files: TrainFiles, model: Any, optim: Optimisation,
           cfg: TrainConfig, budget: TimeBudget, total_epochs: int,
           say: Any) -> tuple[int, bool, list[dict[str, Any]], dict[str, Any]]:
    """Restore the run from ``paths.checkpoint`` (ConfigError when it was made with other settings or does not fit
    the model) and say where it goes on; returns its first epoch, whether it had finished, its history and best
    epoch."""
    state = load_checkpoint(paths.checkpoint)
    diffs = config_differences(state["configs"], record.configs)
    if diffs:
        raise ConfigError(f"Cannot resume from '{paths.checkpoint}': it was made with other settings ("
                          + "; ".join(diffs) + f"). Use the same settings, or run without {RESUME}.")
    try:
        files.restore_partial(state)  # a canceled run's best bundle, kept in its checkpoint
        model.load_state_dict(state["model"])
        optim.optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ConfigError(f"Checkpoint '{paths.checkpoint}' does not fit this model ({str(exc)[:300]}); run "
                          f"without {RESUME}.") from exc
    # Group LRs follow from this run's settings (epochs may have been extended).
    for group in optim.optimizer.param_groups:
        factor = {"vision": cfg.vision_lr_factor, "aux": cfg.aux_lr_factor}.get(group["name"], 1.0)
        group["base_lr"] = cfg.learning_rate * factor
    optim.schedule.load_state_dict(state["schedule"])
    if state.get("scaler"):  # a disabled scaler ignores it
        optim.scaler.load_state_dict(state["scaler"])
    restore_rng_state(state["rng"])
    history, best = list(state["history"]), dict(state["best"])
    epoch = int(state["epoch"])
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
    say.info(f"Resuming from '{paths.checkpoint}' after epoch {epoch}{f' ({why})' if why else ''}.")
    return epoch + 1, finished, history, best
