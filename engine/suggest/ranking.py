"""Scoring and choosing windows to label from a scene's predicted probabilities (pure numpy).

Per pixel: the normalised entropy of the mean prediction (0 sure, 1 a coin toss), the disagreement between the views
(ensemble members and test-time flips: half the summed absolute difference of each view's probabilities from their
mean), the predicted class, and whether it is labelled. Per window (a square of ``window`` pixels stepping by half a
window): the means of those over its valid pixels.

A pixel within an eighth of a window (at least 2 px) of the scene's edge or of nodata does not count in a window's
uncertainty: a model sees padding there, and on a weak model that alone decided the ranking (docs/benchmarks.md).

Its score is ``(entropy + DISAGREEMENT_WEIGHT * disagreement) * (1 - labelled share)``; windows mostly labelled or
mostly outside the image are left out (weighting pixels by the rarity of their class did worse on the bench). The
windows are chosen greedily: the best, then the best of the rest discounted by the windows already chosen in its scene
and of its class (the class holding most of its uncertainty), never overlapping a chosen one, so N windows are not N
views of one cloud edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DISAGREEMENT_WEIGHT = 2.0  # views disagreeing is stronger evidence than one view being unsure
MAX_LABELLED_SHARE = 0.5  # a window already half labelled is not suggested again
MIN_VALID_SHARE = 0.5  # nor one mostly outside the image (nodata)
CLASS_DISCOUNT = 0.5  # score x (1 + windows already chosen of its class) ** -CLASS_DISCOUNT
SCENE_DISCOUNT = 0.5  # likewise per scene
EDGE_FRACTION = 8  # the edge margin is a window's side // EDGE_FRACTION (at least 2 px)


@dataclass
class PixelMaps:
    """What one scene's prediction says per pixel (H, W), on the scene's grid."""

    entropy: np.ndarray  # float32 0..1
    disagreement: np.ndarray  # float32 0..1
    confidence: np.ndarray  # float32: the mean probability of the predicted class
    predicted: np.ndarray  # uint8 class
    valid: np.ndarray  # bool: predicted (inside the image, not nodata)
    labelled: np.ndarray  # bool: inside the labelled area so far


def pixel_maps(views: list[np.ndarray], valid: np.ndarray, labelled: np.ndarray) -> PixelMaps:
    """Per-pixel maps from each view's class probabilities ((C, H, W), C >= 2, summing to 1)."""
    stack = np.stack([np.asarray(v, np.float32) for v in views])  # (V, C, H, W)
    mean = stack.mean(axis=0)
    p = np.clip(mean, 1e-7, 1.0)
    entropy = -(p * np.log(p)).sum(axis=0) / math.log(mean.shape[0])  # over the classes: 0..1
    disagreement = 0.5 * np.abs(stack - mean[None]).sum(axis=1).mean(axis=0)
    predicted = mean.argmax(axis=0).astype(np.uint8)
    confidence = mean.max(axis=0)
    for array in (entropy, disagreement, confidence):
        array[~valid] = 0.0
    return PixelMaps(entropy.astype(np.float32), disagreement.astype(np.float32), confidence.astype(np.float32),
                     predicted, valid, labelled & valid)


@dataclass
class Candidates:
    """The windows of all scenes, as parallel arrays."""

    scene: np.ndarray  # int
    col: np.ndarray  # int: top-left pixel on the scene's grid
    row: np.ndarray
    size: int
    score: np.ndarray
    entropy: np.ndarray
    disagreement: np.ndarray
    confidence: np.ndarray
    labelled: np.ndarray  # share of the window already labelled
    focus: np.ndarray  # the class holding most of the window's uncertainty
    shares: np.ndarray  # (N, C) share of the window's valid pixels predicted as each class


def _cell_sums(array: np.ndarray, g: int, ny: int, nx: int) -> np.ndarray:
    """Sums of ``array`` (H, W) over (ny, nx) g x g cells, cut or padded with zeros to fit."""
    h, w = min(array.shape[0], ny * g), min(array.shape[1], nx * g)  # a last partial cell is left out
    padded = np.zeros((ny * g, nx * g), np.float64)
    padded[:h, :w] = array[:h, :w]
    return padded.reshape(ny, g, nx, g).sum(axis=(1, 3))


def interior(valid: np.ndarray, margin: int) -> np.ndarray:
    """``valid`` pixels at least ``margin`` pixels from an invalid one or the scene's edge (all of ``valid`` in a scene
    too small for the margin)."""
    near = _window_sums(np.pad(~valid, margin, constant_values=True).astype(np.float64), 2 * margin + 1) > 0
    inner = valid & ~near
    return inner if inner.any() else valid


def _window_sums(cells: np.ndarray, k: int) -> np.ndarray:
    """Sums over every k x k block of cells that fits (an integral image)."""
    ii = np.zeros((cells.shape[0] + 1, cells.shape[1] + 1), np.float64)
    ii[1:, 1:] = cells.cumsum(0).cumsum(1)
    return ii[k:, k:] - ii[:-k, k:] - ii[k:, :-k] + ii[:-k, :-k]


def scene_candidates(maps: PixelMaps, window: int, classes: int, scene: int) -> Candidates:
    """Every window of a scene (stepping by half a window) with its statistics and score."""
    h, w = maps.valid.shape
    # the cell the windows are summed over: the largest divisor of ``window`` up to a quarter of it (1 divides any)
    g = next(g for g in range(max(1, window // 4), 0, -1) if window % g == 0)
    k = window // g
    ny, nx = max(h // g, k), max(w // g, k)  # windows stay inside a scene larger than them
    valid = maps.valid.astype(np.float64)

    def sums(array: np.ndarray) -> np.ndarray:
        return _window_sums(_cell_sums(array, g, ny, nx), k)

    n = sums(valid)
    inner = interior(maps.valid, max(2, window // EDGE_FRACTION))
    scored = sums(inner.astype(np.float64))  # the pixels whose uncertainty counts
    ent, dis = (sums(np.where(inner, a, 0.0)) for a in (maps.entropy, maps.disagreement))
    conf, lab = (sums(a) for a in (maps.confidence, maps.labelled.astype(np.float64)))
    per_class = np.stack([sums((maps.predicted == c) & maps.valid) for c in range(classes)], axis=-1)
    unsure = np.stack([sums(np.where(inner & (maps.predicted == c), maps.entropy + maps.disagreement, 0.0))
                       for c in range(classes)], axis=-1)
    step = max(1, k // 2)
    # the last row and column of windows reach the scene's far edges
    ys, xs = (np.unique(np.append(np.arange(0, side, step), side - 1)) for side in n.shape)
    yy, xx = (a.ravel() for a in np.meshgrid(ys, xs, indexing="ij"))
    count = n[yy, xx]
    safe = np.maximum(count, 1.0)
    inside = np.maximum(scored[yy, xx], 1.0)
    entropy, disagreement = ent[yy, xx] / inside, dis[yy, xx] / inside
    labelled = lab[yy, xx] / safe
    keep = (count >= MIN_VALID_SHARE * float(min(window * window, h * w))) & (labelled < MAX_LABELLED_SHARE)
    score = np.where(keep, (entropy + DISAGREEMENT_WEIGHT * disagreement) * (1.0 - labelled), -1.0)
    return Candidates(np.full(len(yy), scene), xx * g, yy * g, window, score, entropy, disagreement,
                      conf[yy, xx] / safe, labelled, unsure[yy, xx].argmax(axis=1), per_class[yy, xx] / safe[:, None])


def merge(parts: list[Candidates]) -> Candidates:
    """The candidates of several scenes as one set."""
    fields = ("scene", "col", "row", "score", "entropy", "disagreement", "confidence", "labelled", "focus", "shares")
    return Candidates(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in fields}, size=parts[0].size)


def choose(candidates: Candidates, count: int) -> list[tuple[int, float]]:
    """Up to ``count`` (candidate index, discounted score) pairs, best first (see the module doc)."""
    score = candidates.score.astype(np.float64)
    alive = score > 0
    per_class = np.zeros(int(candidates.focus.max(initial=0)) + 1)  # windows chosen so far of each class
    per_scene = np.zeros(int(candidates.scene.max(initial=0)) + 1)
    chosen: list[tuple[int, float]] = []
    size = candidates.size
    while len(chosen) < count and alive.any():
        effective = (score * (1.0 + per_class[candidates.focus]) ** -CLASS_DISCOUNT
                     * (1.0 + per_scene[candidates.scene]) ** -SCENE_DISCOUNT)
        effective = np.where(alive, effective, -np.inf)
        best = int(np.argmax(effective))
        chosen.append((best, float(effective[best])))
        s, c, r = candidates.scene[best], candidates.col[best], candidates.row[best]
        overlapping = ((candidates.scene == s) & (np.abs(candidates.col - c) < size)
                       & (np.abs(candidates.row - r) < size))
        alive &= ~overlapping
        per_class[candidates.focus[best]] += 1
        per_scene[s] += 1
    return chosen


def why(candidates: Candidates, index: int, class_names: list[str], views: int) -> str:
    """The reasons for one window in words, e.g. "mean confidence 0.52, 38 % of pixels predicted building"."""
    shares = candidates.shares[index]
    order = [int(c) for c in np.argsort(-shares) if shares[c] >= 0.05][:2]
    predicted = " and ".join(f"{100 * shares[c]:.0f} % of pixels predicted {_name(class_names, c)}" for c in order)
    parts = [f"mean confidence {candidates.confidence[index]:.2f}", f"entropy {candidates.entropy[index]:.2f}"]
    if views > 1:
        parts.append(f"views disagree on {100 * candidates.disagreement[index]:.0f} % of the probability")
    if predicted:
        parts.append(predicted)
    parts.append(f"most unsure where it predicts {_name(class_names, int(candidates.focus[index]))}")
    if candidates.labelled[index] > 0:
        parts.append(f"{100 * candidates.labelled[index]:.0f} % already labelled")
    return ", ".join(parts)


def _name(class_names: list[str], c: int) -> str:
    return class_names[c] if 0 <= c < len(class_names) else f"class {c}"
