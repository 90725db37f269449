"""Streaming metrics against a hand-built confusion matrix; logits -> prediction (per-image Dice: test_evaluate)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import DataError
from engine.training.metrics import ConfusionMatrix, logits_to_prediction

IGN = 255

# truth (rows) x prediction (cols), 3 classes, built by hand from the pixels below
TRUTH = np.array([[0, 0, 0, 1, 1, 2, 2, 2, IGN, IGN]])
PRED = np.array([[0, 0, 1, 1, 2, 2, 2, 0, 1, 2]])
EXPECTED = np.array([
    [2, 1, 0],  # truth 0: two right, one called 1
    [0, 1, 1],  # truth 1: one right, one called 2
    [1, 0, 2],  # truth 2: two right, one called 0
])


def test_matrix_and_summary_match_hand_computation():
    cm = ConfusionMatrix(3, ignore_index=IGN)
    cm.update(PRED, TRUTH)
    assert cm.matrix.dtype == np.int64
    np.testing.assert_array_equal(cm.matrix, EXPECTED)
    s = cm.summary(["a", "b", "c"])
    # class 0: TP 2, FP 1, FN 1; class 1: TP 1, FP 1, FN 1; class 2: TP 2, FP 1, FN 1
    assert s["iou"] == pytest.approx([2 / 4, 1 / 3, 2 / 4])
    assert s["miou"] == pytest.approx((0.5 + 1 / 3 + 0.5) / 3)
    assert s["f1"] == pytest.approx([4 / 6, 2 / 4, 4 / 6])
    assert s["precision"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert s["recall"] == pytest.approx([2 / 3, 1 / 2, 2 / 3])
    assert s["pixel_accuracy"] == pytest.approx(5 / 8)
    assert s["foreground_iou"] == pytest.approx((1 / 3 + 0.5) / 2)
    assert s["confusion_matrix"] == EXPECTED.tolist()
    assert s["class_names"] == ["a", "b", "c"]
    json.dumps(s, allow_nan=False)  # valid strict JSON


def test_streaming_and_merge_equal_one_update():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (4, 16, 16))
    truth[0, :4] = IGN
    pred = rng.integers(0, 3, (4, 16, 16))
    whole = ConfusionMatrix(3)
    whole.update(pred, truth)
    first, second = ConfusionMatrix(3), ConfusionMatrix(3)
    first.update(torch.from_numpy(pred[:2]), torch.from_numpy(truth[:2]))  # torch input too
    second.update(pred[2:], truth[2:])
    np.testing.assert_array_equal(first.merge(second).matrix, whole.matrix)
    assert whole.matrix.sum() == (truth != IGN).sum()


def test_binary_mode_foreground_iou_like_the_reference():
    cm = ConfusionMatrix(1)  # a binary model's output count -> background/foreground
    assert cm.num_classes == 2
    truth = np.array([1, 1, 0, 0, 1, IGN])
    pred = np.array([1, 0, 1, 0, 1, 1])
    cm.update(pred, truth)
    s = cm.summary()
    assert s["foreground_iou"] == pytest.approx(2 / 4)  # TP 2, FP 1, FN 1
    assert s["iou"][1] == s["foreground_iou"]


def test_absent_class_is_none_and_excluded_from_mean():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
    s = cm.summary()
    assert s["iou"][2] is None and s["precision"][2] is None
    assert s["miou"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    empty = ConfusionMatrix(2).summary()
    assert empty["miou"] is None and empty["pixel_accuracy"] is None


def test_values_outside_the_classes_are_reported():
    cm = ConfusionMatrix(2)
    with pytest.raises(DataError, match=r"label values \[7\]"):
        cm.update(np.array([0, 1]), np.array([0, 7]))
    with pytest.raises(DataError, match="match"):
        cm.update(np.array([0, 1, 1]), np.array([0, 1]))


def test_logits_to_prediction():
    binary = torch.tensor([[[[-1.0, 0.1], [2.0, 0.0]]]])
    assert logits_to_prediction(binary).tolist() == [[[0, 1], [1, 0]]]
    assert logits_to_prediction(binary, threshold=0.8).tolist() == [[[0, 0], [1, 0]]]
    multi = torch.zeros(1, 3, 1, 2)
    multi[0, 2, 0, 0] = 1.0
    multi[0, 1, 0, 1] = 1.0
    assert logits_to_prediction(multi).tolist() == [[[2, 1]]]
