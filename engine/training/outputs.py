"""The files a training writes (see :mod:`.trainer` for the list): the best bundle so far and the checkpoint every
epoch, and at the end the bundle at its finished name, the reports and the model card (:class:`TrainFiles`, which
keeps which of its files this run wrote); what ``train`` returns; what it reads and writes (checked before any
work), the word on an earlier run's checkpoint, and what a stopped run says it kept.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..bundle.describe import learned_nothing
from ..bundle.schema import BundleMetadata
from ..config import TrainConfig
from ..errors import ConfigError, OutputError, mention
from ..imagery.season import expand_sources
from ..io.atomic import BackgroundWrite
from ..io.safety import Files, Paths, as_paths, every_file
from ..runtime.environment import require
from .checkpoint import RESUME, capture_rng_state, checkpoint_path, detached_copy, save_checkpoint
from .metrics import THRESHOLDS
from .parts import Optimisation, Place, RunPaths, TimeBudget, TrainRecord, preview_predictions


@dataclass
class TrainResult:
    """What :func:`train` produced."""

    bundle: str
    checkpoint: str
    best_epoch: int
    best_metrics: dict[str, Any]
    history: list[dict[str, Any]]
    report: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # metrics_csv, metrics_json, curves_png, ...
    epochs_run: int = 0  # epochs run by this call (not counting resumed ones)
    stopped_early: bool = False
    stopped_at_budget: bool = False  # the time budget ended training (train.time_budget)
    kept_last: bool = False  # no validation score told the epochs apart: best_epoch is the last one

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class TrainFiles:
    """Saving and finishing: the best bundle so far, the checkpoint, the reports, the bundle at its finished name."""

    cfg: TrainConfig
    record: TrainRecord
    model: Any
    optim: Optimisation
    budget: TimeBudget
    datasets: tuple[Any, Any, Any]  # (train, validation, summary), as data.dataset.build_datasets gives them
    paths: RunPaths
    keep_last: bool  # no validation score tells the epochs apart: the bundle holds the last one
    place: Place
    average: Any = None  # the weights' moving average (:mod:`.averaging`): the bundle keeps it; None: the weights
    good_checkpoint: bool = False  # a checkpoint of this run (written or resumed from) is at paths.checkpoint
    wrote_partial: bool = False  # this run wrote the .partial bundle (removed on failure if no checkpoint)
    writes: BackgroundWrite = field(default_factory=lambda: BackgroundWrite("dualstream-checkpoint"))

    def bundle_metadata(self, best: dict[str, Any]) -> BundleMetadata:
        metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                   for k, v in best.get("metrics", {}).items()}  # strict JSON in the bundle
        metrics["epoch"] = best.get("epoch", 0)
        parent = self.record.parent.record() if self.record.parent is not None else None
        model = self.record.model_cfg
        if (picked := picked_threshold(model, metrics, self.record.data_meta)) is not None:
            model = model.replace(threshold=picked)
        return BundleMetadata(model=model, data=self.record.data_meta, train=self.cfg.to_dict(),
                              metrics=metrics, parent=parent, extra=dict(self.record.extra))

    def _save_bundle(self, path: Path, best: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        from ..bundle.store import save_bundle

        # copied weights as what save_bundle asks of a model
        save_bundle(path, self.model if state is None else SimpleNamespace(state_dict=lambda: state),
                    self.bundle_metadata(best))

    def save_epoch(self, epoch: int, improved: bool, finished: bool, history: list[dict[str, Any]],
                   best: dict[str, Any]) -> None:
        """Best bundle so far (when improved), checkpoint and metrics: the state copied now, written by a background
        thread while the next epoch trains (the previous write waited for first, its error raised here); a failed
        write keeps the last good files."""
        self.writes.wait()
        scaler = self.optim.scaler
        payload = dict(model=detached_copy(self.model.state_dict()),
                       optimizer=detached_copy(self.optim.optimizer.state_dict()),
                       schedule=self.optim.schedule.state_dict(),
                       scaler=scaler.state_dict() if scaler.is_enabled() else None, epoch=epoch,
                       finished=finished, history=copy.deepcopy(history), best=copy.deepcopy(best),
                       configs=self.record.configs, rng=capture_rng_state(),
                       average=self.average.state_dict() if self.average is not None else None)
        self.writes.submit(lambda: self._write_epoch(epoch, improved, payload))

    def _write_epoch(self, epoch: int, improved: bool, payload: dict[str, Any]) -> None:
        from .report import write_metrics

        try:
            if improved:
                self.wrote_partial = True
                average = payload["average"]  # the bundle keeps the averaged weights, the checkpoint both
                state = payload["model"] if average is None else {**payload["model"], **average["shadow"]}
                self._save_bundle(self.paths.partial, payload["best"], state)
            save_checkpoint(self.paths.checkpoint, payload)
            self.good_checkpoint = True
            write_metrics(payload["history"], self.paths.reports["metrics_csv"], self.paths.reports["metrics_json"])
        except OutputError as exc:
            kept = (f"the last good checkpoint '{self.paths.checkpoint}' is kept: free space and run again with "
                    f"{RESUME}" if self.good_checkpoint else "no checkpoint of this run had been written yet, so "
                    "nothing is kept: free space and run it again")
            raise OutputError(f"{exc} Training stopped in epoch {epoch}; {kept}.") from exc

    def settle(self, quiet: bool = False) -> None:
        """Wait for the files in flight; ``quiet``: a failed write is a warning (the run ends for another reason)."""
        try:
            self.writes.wait()
        except OutputError as exc:
            if not quiet:
                raise
            self.place.callback.warning(str(exc))

    def fold_partial(self, canceled: bool = True) -> None:
        """A stopped run (rank 0): the ``.partial`` it wrote goes when no checkpoint of this run exists; with one, a
        ``canceled`` run's best bundle so far goes into the kept checkpoint (``best_model``), so a cancel leaves the
        checkpoint only (:meth:`restore_partial` writes it back)."""
        self.settle(quiet=True)
        if not self.place.ctx.is_main or not self.paths.partial.exists():
            return
        if not self.good_checkpoint or not canceled:
            if self.wrote_partial and not self.good_checkpoint:
                self.paths.partial.unlink(missing_ok=True)
            return
        torch = require("torch")
        try:
            best = require("safetensors.torch").load_file(str(self.paths.partial), device="cpu")
            payload = torch.load(str(self.paths.checkpoint), map_location="cpu", weights_only=True)
            payload["best_model"] = best
            from ..io.atomic import atomic_file

            with atomic_file(self.paths.checkpoint) as handle:
                torch.save(payload, handle)
        except (OSError, RuntimeError, ValueError) as exc:  # the .partial stays: resume still has it
            self.place.callback.warning(f"The best bundle so far '{self.paths.partial}' could not be folded into the "
                                  f"checkpoint ({exc}); it is kept for {RESUME}.")
            return
        self.paths.partial.unlink(missing_ok=True)

    def restore_partial(self, state: dict[str, Any]) -> None:
        """Resuming a canceled run (rank 0): its ``best_model`` written back as the ``.partial`` bundle, before the
        checkpoint's own (last) weights are loaded."""
        best = state.get("best_model")
        if not self.place.ctx.is_main or not best or self.paths.partial.exists():
            return
        self.model.load_state_dict(best)
        self._save_bundle(self.paths.partial, state["best"])
        self.wrote_partial = True

    def finish(self, stop: str | None, epochs_run: int, history: list[dict[str, Any]],
               best: dict[str, Any]) -> TrainResult:
        self.settle()
        report = None
        best_file = self.paths.partial if self.paths.partial.exists() else self.paths.output
        if self.place.ctx.is_main and not best_file.exists():
            raise ConfigError(f"Training had finished but neither '{self.paths.output}' nor '{self.paths.partial}' "
                              f"exists (moved or deleted?); run again without {RESUME}.")
        self._load_best_weights(best_file)
        if self.place.ctx.is_main:
            if best_file == self.paths.partial or epochs_run:  # the report shows every epoch, new ones included
                report = self._write_reports(stop, history, best)
            else:  # resumed a run that had already finished
                report = self.paths.reports["report_html"] if Path(self.paths.reports["report_html"]).exists() else None
            iou = best.get("metrics", {}).get("val_iou")
            which = "last" if self.keep_last else "best"  # keep_last: no foreground to score
            chosen = f"{which} epoch {best.get('epoch')}" + (
                f", validation IoU {iou:.3f}" if isinstance(iou, (int, float)) else ", no validation score")
            if best_file == self.paths.partial:
                os.replace(self.paths.partial, self.paths.output)
                self.place.callback.info(f"Model bundle written to '{self.paths.output}' ({chosen}).")
                from ..export.stac import write_model_card

                try:  # the STAC MLM item beside the bundle, so catalogues can list the model
                    write_model_card(self.paths.output, self.paths.reports["stac_item"])
                except (OSError, ValueError) as exc:  # a card is a nicety; the bundle matters
                    self.place.callback.warning(f"The STAC model card could not be written ({exc}); the model "
                                                f"bundle is fine.")
            else:
                kept = "no epoch of this run beat it" if epochs_run else "training had finished"
                self.place.callback.info(f"Model bundle '{self.paths.output}' kept: {kept} ({chosen}).")
            self._said_threshold(best)
            self._said_if_learned_nothing(best)
        self.place.ctx.barrier()
        return TrainResult(bundle=str(self.paths.output), checkpoint=str(self.paths.checkpoint),
                           best_epoch=int(best.get("epoch", 0)), best_metrics=dict(best.get("metrics", {})),
                           history=list(history), report=report, outputs=dict(self.paths.reports),
                           epochs_run=epochs_run, stopped_early=stop == "early", stopped_at_budget=stop == "budget",
                           kept_last=self.keep_last)

    def _said_threshold(self, best: dict[str, Any]) -> None:
        """The decision threshold the bundle records, picked on the validation tiles (a change mask's)."""
        metrics = best.get("metrics", {})
        if (picked := picked_threshold(self.record.model_cfg, metrics, self.record.data_meta)) is not None:
            scores = dict(zip(THRESHOLDS, metrics["val_threshold_f1"]))
            self.place.callback.info(
                f"Decision threshold {picked:g}, picked on the validation tiles at epoch {best.get('epoch')}: change "
                f"F1 {scores[picked]:.3f} there (at 0.5: {scores[0.5] or 0.0:.3f}); segment calls a pixel change from "
                f"this probability on (its {mention('segment.threshold')} overrides it).")

    def _said_if_learned_nothing(self, best: dict[str, Any]) -> None:
        """A warning when the best epoch's validation shows that the model learned nothing (saved all the same: a
        resume goes on from it)."""
        data = self.record.data_meta
        if why := learned_nothing(best.get("metrics", {}), data.class_names, data.binary):
            self.place.callback.warning(
                f"The model learned nothing: at its best epoch ({best.get('epoch')}) {why}. It is written all the "
                f"same, but it will find as little in what it segments: train it longer (a larger "
                f"{mention('train.time_budget')}, or the same command with {RESUME} to go on from this training), or "
                f"give it more labelled examples.")

    def _load_best_weights(self, best_file: Path) -> None:
        """The bundle's weights into every process's model: rank 0 reads them and broadcasts (other nodes need not
        share its file system)."""
        if self.place.ctx.is_main:
            state = require("safetensors.torch").load_file(str(best_file), device="cpu")
            self.model.load_state_dict(state)
        if self.place.ctx.distributed:
            import torch.distributed as dist

            for tensor in self.model.state_dict().values():  # share storage with the parameters and buffers
                dist.broadcast(tensor, src=0)
        self.model.eval()

    def _preview_colours(self) -> Any:
        """The vision bands the preview shows as red, green and blue (by the first scene's band names)."""
        from ..config.bands import BandSelection
        from ..data.band_names import image_rgb

        scenes = [s for ds in self.datasets if ds is not None for s in getattr(ds, "scenes", [])]
        data = self.record.data_meta
        selection = BandSelection(tuple(data.bands) if data.bands else None,
                                  tuple(data.x_bands) if data.x_bands else None)
        bands = selection.vision_bands(data.image_bands or data.vision_bands)
        if scenes and scenes[0].get("bands") and not data.bands:  # bands by name: the first scene's own numbers
            bands = list(scenes[0]["bands"])
        return image_rgb(scenes[0]["image"], bands) if scenes else None

    def _write_reports(self, stop: str | None, history: list[dict[str, Any]], best: dict[str, Any]) -> str | None:
        """Metrics files, curves, prediction grid of the best weights and the HTML report (rank 0)."""
        from .report import write_report

        val_ds = self.datasets[1]  # the model holds the best weights already (_load_best_weights)
        previews = (preview_predictions(self.model, val_ds, self.cfg.preview_tiles, self.optim.forward)
                    if self.cfg.preview_tiles > 0 and val_ds is not None else [])
        rgb = self._preview_colours() if previews else None
        if rgb is not None:
            self.place.callback.info(f"Report preview: {rgb.how}.")
        try:
            stopped = {"early": "early: the validation score stopped improving",
                       "budget": f"at the {self.budget.describe()}"}.get(stop or "")
            return write_report(self.paths.reports, history, self.bundle_metadata(best), previews, stopped, rgb)
        except (OSError, ValueError, RuntimeError) as exc:  # a report is a nicety; the bundle matters
            self.place.callback.warning(f"The training report could not be written ({exc}); the model bundle is fine.")
            return None


def picked_threshold(model_cfg: Any, metrics: dict[str, Any], data: Any) -> float | None:
    """The decision threshold a bundle of ``model_cfg`` records from its epoch's validation ``metrics``: the
    F1-best (:class:`.metrics.ThresholdSweep`) for a model whose family picks it (a change model: ``threshold``
    unset) and that scored one; else None (the model's own, or 0.5). A model that learned nothing keeps 0.5: a low
    threshold would call every pixel change, hiding it (``learned_nothing``)."""
    if getattr(model_cfg, "threshold", 0.5) is not None or not metrics.get("val_threshold_f1"):
        return None
    if learned_nothing(metrics, data.class_names, data.binary):
        return None
    return metrics.get("val_threshold")


def coordinates_record(model: Any, datasets: Any, callback: Any) -> dict[str, Any]:
    """For a model taking each tile's date and place (a Prithvi-EO-2.0 TL encoder): the datasets' samples carry
    them from now on; the bundle's ``extra`` (``coordinates``) records what the training scenes gave, said once."""
    if not getattr(model, "takes_coords", False):
        return {}
    from ..data.acquisition import record

    for each in datasets:
        if each is not None:
            each.with_coords = True
    dataset = datasets[0]
    scenes = getattr(dataset, "scenes", [])
    kept, line = record([(str(s.get("image", i)), dataset.reader(i).acquisition) for i, s in enumerate(scenes)])
    callback.info(line)
    return {"coordinates": kept}


def earlier_checkpoint(output: Path, checkpoint: Path, partial: Path) -> str | None:
    """The warning for a new training onto an output whose earlier run left a checkpoint; None if none did."""
    if not checkpoint.exists():
        return None
    best = f" and its best bundle so far '{partial}'" if partial.exists() else ""
    return (f"A checkpoint of an earlier training of '{output}' exists ('{checkpoint}'{best}): this new training "
            f"starts from scratch and replaces it. To go on from it instead, stop now and run the same command "
            f"with {RESUME}.")


def stopped(what: str, output: Path, checkpoint: Path, has_checkpoint: bool) -> str:
    """``what`` (canceled, interrupted), then where the checkpoint is and how to resume, or that there is none."""
    if has_checkpoint:
        return (f"{what}. The last checkpoint '{checkpoint}' is kept: run the same command with {RESUME} to go on "
                f"from it; nothing was written at '{output}'.")
    return (f"{what} before the first checkpoint: nothing was kept (no '{checkpoint}', nothing at '{output}'); "
            f"run it again to start over.")


def train_files(model_cfg: Any, data_cfg: Any, train_cfg: Any) -> tuple[dict[str, Paths | Files],
                                                                      dict[str, Paths | Files]]:
    """What ``train`` reads (scenes, data folder, pretrained folder) and writes (bundle, checkpoint, reports)."""
    from .report import report_paths

    inputs: dict[str, Paths | Files] = {
        f"data folder ({mention('data.data_dir')})": Files(data_cfg.data_dir, folder=True),
        f"pretrained weights ({mention('model.pretrained')})": every_file(model_cfg.pretrained),
        f"model to start from ({mention('train.init_from')})": every_file(getattr(train_cfg, "init_from", None))}
    for kind, scenes in (("", data_cfg.train_scenes), ("validation ", data_cfg.val_scenes)):
        # each file is named by the control that gives it: the scenes setting's part (--label, --val-aux; LABELS)
        scenes_key = f"data.{'val' if kind else 'train'}_scenes"
        for spec in scenes:
            for key in ("image", "dates", "after", "label", "aux", "aoi"):
                label = f"{kind}{key} of a scene ({mention(f'{scenes_key}#{key}')})"
                files = inputs.setdefault(label, Files([], give="a file, not a folder"))
                given = expand_sources(spec.dates) if key == "dates" else as_paths(getattr(spec, key))
                files.paths.extend(given)  # type: ignore[union-attr]
    output = Path(train_cfg.output)
    outputs: dict[str, Paths | Files] = {
        f"model bundle ({mention('train.output')})": Files([str(output), f"{output}.partial"], "bundle"),
        # the checkpoint is rewritten by a resumed run on purpose; it is an output, never an input here
        f"training checkpoint ({mention('train.output')} + .ckpt)": str(checkpoint_path(output)),
        f"training report (beside {mention('train.output')})": list(report_paths(output).values()),
    }
    return inputs, outputs
