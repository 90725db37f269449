"""Loss values against hand-computed cases; ignore index, degenerate batches, gradients, deep supervision."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.config import LossConfig, TrainConfig
from engine.errors import ConfigError
from engine.training.losses import (
    CombinedLoss,
    DeepSupervisionLoss,
    SegmentationLoss,
    binary_focal_loss,
    build_loss,
    cross_entropy,
    lovasz_hinge,
    lovasz_softmax,
    multiclass_focal_loss,
    ohem_cross_entropy,
    soft_dice_loss,
    sorted_descending,
)

IGN = 255


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _t(values, dtype=torch.float32) -> torch.Tensor:
    """A (1, 1, 1, N) logit tensor or (1, 1, N) label tensor from a list."""
    return torch.tensor(values, dtype=dtype).reshape(1, 1, 1, -1) if dtype.is_floating_point else \
        torch.tensor(values, dtype=dtype).reshape(1, 1, -1)


# ---------------------------------------------------------------------------------------------- focal
def test_binary_focal_hand_computed():
    logits, target = _t([0.0, 2.0]), _t([1, 0], torch.long)
    # pixel 1: p = 0.5, y = 1 -> alpha 0.25 * (1 - 0.5)^2 * ln 2
    a = 0.25 * 0.25 * math.log(2)
    # pixel 2: p = sigmoid(2), y = 0 -> (1 - 0.25) * p^2 * -ln(1 - p)
    p = _sig(2.0)
    b = 0.75 * p**2 * -math.log(1 - p)
    assert binary_focal_loss(logits, target).item() == pytest.approx((a + b) / 2, rel=1e-5)


def test_multiclass_focal_gamma0_is_cross_entropy_and_alpha_weights():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4))
    target[0, 0, :2] = IGN
    ce = F.cross_entropy(logits, target, ignore_index=IGN)
    assert multiclass_focal_loss(logits, target, alpha=None, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-5)
    weights = torch.tensor([1.0, 2.0, 0.5])
    wce = (F.cross_entropy(logits, target, ignore_index=IGN, reduction="none") * weights[target.clamp(max=2)])
    expected = wce[target != IGN].mean()
    got = multiclass_focal_loss(logits, target, alpha=[1.0, 2.0, 0.5], gamma=0.0)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


# ---------------------------------------------------------------------------------------------- Lovasz
def test_lovasz_hinge_hand_computed():
    # errors: 1 - 0.5 * (+1) = 0.5 (fg), 1 - 0.2 * (-1) = 1.2 (bg); sorted [1.2 bg, 0.5 fg]
    # Jaccard of the prefixes: [1 - 1/2, 1 - 0/2] = [0.5, 1] -> gradient [0.5, 0.5]; loss = 0.6 + 0.25
    assert lovasz_hinge(_t([0.5, 0.2]), _t([1, 0], torch.long)).item() == pytest.approx(0.85, rel=1e-6)
    # Correct with margin >= 1: zero loss.
    assert lovasz_hinge(_t([2.0, -1.0]), _t([1, 0], torch.long)).item() == pytest.approx(0.0, abs=1e-7)


def test_lovasz_probability_variant_hand_computed():
    # errors |y - sigmoid(x)|: fg x=0 -> 0.5, bg x=1 -> sigmoid(1); sorted [sigmoid(1) bg, 0.5 fg], grads [0.5, 0.5]
    got = lovasz_hinge(_t([0.0, 1.0]), _t([1, 0], torch.long), variant="probability")
    assert got.item() == pytest.approx(0.5 * _sig(1.0) + 0.25, rel=1e-6)
    with pytest.raises(ConfigError, match="hinge"):
        lovasz_hinge(_t([0.0]), _t([1], torch.long), variant="softmax")


def test_lovasz_softmax_uniform_and_perfect():
    target = torch.tensor([[[0, 1, 1, 0]]])
    uniform = torch.zeros(1, 2, 1, 4)  # p = 0.5 everywhere: each present class costs 0.5
    assert lovasz_softmax(uniform, target).item() == pytest.approx(0.5, rel=1e-6)
    perfect = F.one_hot(target, 2).movedim(-1, 1).float() * 40
    assert lovasz_softmax(perfect, target).item() == pytest.approx(0.0, abs=1e-6)


def test_lovasz_gradcheck():
    target = torch.tensor([[[1, 0, 1], [0, 1, IGN]]])
    logits = torch.tensor([[[[0.3, -0.7, 1.1], [0.2, -0.4, 0.9]]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: lovasz_hinge(x, target), (logits,), eps=1e-6, atol=1e-5)
    mc_target = torch.tensor([[[0, 2, 1], [1, 2, IGN]]])
    mc_logits = torch.tensor([[[[0.3, -0.7, 1.1], [0.2, -0.4, 0.9]],
                               [[-0.5, 0.8, 0.1], [1.3, 0.05, -0.2]],
                               [[0.6, 0.25, -1.0], [-0.3, 0.7, 0.4]]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: lovasz_softmax(x, mc_target), (mc_logits,), eps=1e-6, atol=1e-5)


def test_lovasz_sort_by_integer_keys_gives_torch_sorts_values_and_losses(monkeypatch):
    import engine.training.losses as losses

    torch.manual_seed(0)
    errors = torch.randn(10_000)
    errors[::7], errors[::11], errors[5], errors[6] = 0.5, -0.0, math.inf, -math.inf  # ties, signed zero, infinities
    values, perm = sorted_descending(errors)
    assert torch.equal(values, torch.sort(errors, descending=True).values) and torch.equal(errors[perm], values)
    assert sorted(perm.tolist()) == list(range(len(errors)))  # a permutation
    logits = torch.randn(3, 1, 24, 24).round(decimals=1).requires_grad_()  # many tied errors
    target = (torch.rand(3, 24, 24) > 0.6).long()
    target[0, :2] = IGN
    mc_logits, mc_target = torch.randn(2, 3, 16, 16).round(decimals=1), torch.randint(0, 3, (2, 16, 16))
    ours = (lovasz_hinge(logits, target), lovasz_hinge(logits, target, variant="probability"),
            lovasz_softmax(mc_logits, mc_target, per_image=True))
    monkeypatch.setattr(losses, "sorted_descending", lambda e: torch.sort(e, descending=True))
    stock = (lovasz_hinge(logits, target), lovasz_hinge(logits, target, variant="probability"),
             lovasz_softmax(mc_logits, mc_target, per_image=True))
    for a, b in zip(ours, stock):  # the order of equal errors changes no loss value
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_lovasz_hinge_sorts_only_the_positive_errors_with_the_full_sorts_loss_and_gradient(monkeypatch):
    import engine.training.losses as losses

    torch.manual_seed(1)
    target = (torch.rand(3, 32, 32) > 0.6).long()
    target[1, :3] = IGN
    signs = 2.0 * target.clamp(max=1).double() - 1.0
    logits = (signs * 2.0 + torch.randn(3, 32, 32, dtype=torch.float64)).unsqueeze(1)  # most pixels past the hinge

    def full(x):  # every error sorted, as Berman et al.'s Algorithm 1
        per_image = []
        for i in range(x.shape[0]):
            keep = target[i] != IGN
            labels = target[i][keep].double()
            errors = 1.0 - x[i, 0][keep] * (2.0 * labels - 1.0)
            ordered, perm = torch.sort(errors, descending=True)
            per_image.append(torch.dot(F.relu(ordered), losses.lovasz_grad(labels[perm])))
        return torch.stack(per_image).mean()

    sizes = []
    sort = losses.sorted_descending
    monkeypatch.setattr(losses, "sorted_descending", lambda e: sizes.append(e.numel()) or sort(e))
    ours_x, full_x = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ours, reference = lovasz_hinge(ours_x, target), full(full_x)
    ours.backward()
    reference.backward()
    assert ours.item() == pytest.approx(reference.item(), rel=1e-12) and ours.item() > 0
    assert torch.allclose(ours_x.grad, full_x.grad, rtol=1e-12, atol=1e-15)
    positive = [int(((1.0 - logits[i, 0] * signs[i]) > 0)[target[i] != IGN].sum()) for i in range(3)]
    assert sizes == positive and sum(positive) < 0.5 * int((target != IGN).sum())  # the rest never sorted
    corner = logits[:, :, :6, :6].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: lovasz_hinge(x, target[:, :6, :6]), (corner,), eps=1e-6, atol=1e-5)


# ---------------------------------------------------------------------------------------------- Dice, OHEM
def test_soft_dice_hand_computed():
    logits, target = torch.zeros(1, 1, 1, 4), torch.tensor([[[1, 1, 0, 0]]])
    # p = 0.5: intersection 1, sums 2 + 2 -> dice (2 + 1) / (4 + 1) = 0.6
    assert soft_dice_loss(logits, target).item() == pytest.approx(0.4, rel=1e-6)
    mc = torch.zeros(1, 2, 1, 4)  # both classes p = 0.5: each class dice 0.6
    assert soft_dice_loss(mc, target).item() == pytest.approx(0.4, rel=1e-6)


def test_ohem_keeps_hard_pixels():
    logits, target = _t([3.0, 0.0, -1.0]), _t([1, 1, 1], torch.long)
    hard = (math.log(2) + math.log(1 + math.e)) / 2  # p_true 0.5 and 0.27 < 0.7; 0.95 is easy
    assert ohem_cross_entropy(logits, target, threshold=0.7, min_kept=1).item() == pytest.approx(hard, rel=1e-5)
    all_three = (math.log(1 + math.exp(-3)) + math.log(2) + math.log(1 + math.e)) / 3
    assert ohem_cross_entropy(logits, target, threshold=0.7, min_kept=3).item() == pytest.approx(all_three, rel=1e-5)


# ---------------------------------------------------------------------------------------------- every loss
LOSSES = [("focal", {}), ("lovasz", {}), ("lovasz", {"variant": "probability"}), ("dice", {}), ("ohem", {})]


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("name,opts", LOSSES)
def test_ignored_pixels_do_not_matter(name, opts, classes):
    torch.manual_seed(0)
    loss = SegmentationLoss(name, IGN, **opts)
    logits = torch.randn(2, classes, 8, 8)
    target = torch.randint(0, max(classes, 2), (2, 8, 8))
    target[:, :3] = IGN
    changed = logits.clone()
    changed[:, :, :3] = 50.0 * torch.randn_like(changed[:, :, :3])
    assert loss(logits, target).item() == pytest.approx(loss(changed, target).item(), rel=1e-6)


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("name,opts", LOSSES)
def test_all_ignored_is_zero_with_zero_gradient(name, opts, classes):
    logits = torch.randn(2, classes, 8, 8, requires_grad=True)
    target = torch.full((2, 8, 8), IGN)
    value = SegmentationLoss(name, IGN, **opts)(logits, target)
    value.backward()
    assert value.item() == 0.0
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0


@pytest.mark.parametrize("classes", [1, 3])
@pytest.mark.parametrize("name,opts", LOSSES)
def test_all_background_is_finite(name, opts, classes):
    logits = torch.randn(2, classes, 8, 8, requires_grad=True)
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    value = SegmentationLoss(name, IGN, **opts)(logits, target)
    value.backward()
    assert torch.isfinite(value) and value.item() >= 0
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- combined
def test_deep_supervision_upsamples_and_weights_the_heads():
    torch.manual_seed(0)
    head = SegmentationLoss("focal", IGN)
    target = torch.randint(0, 2, (2, 16, 16))
    final, f2, f3 = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 4, 4), torch.randn(2, 1, 2, 2)
    loss = DeepSupervisionLoss(head, (1.0, 0.3, 0.15))
    up = lambda t: F.interpolate(t, size=(16, 16), mode="bilinear", align_corners=False)  # noqa: E731
    expected = head(final, target) + 0.3 * head(up(f2), target) + 0.15 * head(up(f3), target)
    assert loss({"logits": final, "side_logits": [f2, f3]}, target).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss({"logits": final}, target).item() == pytest.approx(head(final, target).item(), rel=1e-6)


@pytest.mark.parametrize("classes", [1, 4])
def test_build_loss_is_reference_half_focal_half_lovasz(classes):
    torch.manual_seed(0)
    loss = build_loss(LossConfig(), "dualstream", 2, ignore_index=IGN)
    logits = torch.randn(2, classes, 8, 8)
    target = torch.randint(0, max(classes, 2), (2, 8, 8))
    target[0, 0] = IGN
    if classes == 1:
        expected = 0.5 * binary_focal_loss(logits, target, 0.25, 2.0) + 0.5 * lovasz_hinge(logits, target)
    else:
        expected = 0.5 * multiclass_focal_loss(logits, target, None, 2.0) + 0.5 * lovasz_softmax(logits, target)
    assert loss({"logits": logits}, target).item() == pytest.approx(expected.item(), rel=1e-6)
    assert isinstance(loss.head_loss, CombinedLoss) and loss.weights == [1.0, 0.3, 0.15]


def test_combined_loss_needs_a_term():
    with pytest.raises(ConfigError, match="non-zero weight"):
        CombinedLoss([(0.0, SegmentationLoss("focal"))])
    with pytest.raises(ConfigError, match="focal"):
        SegmentationLoss("hausdorff")


def test_half_precision_logits_are_computed_in_float32():
    """Under AMP the logits are float16; a 512x512 tile's Lovasz cumsum must not overflow (65504 max)."""
    target = torch.zeros(1, 512, 512, dtype=torch.long)
    target[:, :300] = 1
    logits = torch.randn(1, 1, 512, 512).half()
    value = build_loss(LossConfig(), "dualstream", 2)({"logits": logits}, target)
    assert value.dtype == torch.float32 and torch.isfinite(value)


# ---------------------------------------------------------------------------------------------- by name
def _term_value(name: str, logits: torch.Tensor, target: torch.Tensor, **options) -> float:
    return SegmentationLoss(name, IGN, **options)(logits, target).item()


@pytest.mark.parametrize("classes", [1, 3])
def test_each_loss_by_name_matches_its_function(classes):
    torch.manual_seed(1)
    logits = torch.randn(2, classes, 8, 8)
    target = torch.randint(0, max(classes, 2), (2, 8, 8))
    target[1, :2] = IGN
    binary = classes == 1
    focal = (binary_focal_loss(logits, target, 0.25, 2.0) if binary
             else multiclass_focal_loss(logits, target, None, 2.0))
    lovasz = lovasz_hinge(logits, target) if binary else lovasz_softmax(logits, target)
    expected = {"focal": focal, "lovasz": lovasz, "dice": soft_dice_loss(logits, target),
                "ohem": ohem_cross_entropy(logits, target, 0.7, 10), "ce": cross_entropy(logits, target)}
    for name, value in expected.items():
        options = {"threshold": 0.7, "min_kept": 10} if name == "ohem" else {}
        assert _term_value(name, logits, target, **options) == pytest.approx(value.item(), rel=1e-6), name
    assert _term_value("bce", logits, target) == pytest.approx(expected["ce"].item(), rel=1e-6)
    # ce is the plain mean cross-entropy over valid pixels
    valid = target != IGN
    if binary:
        manual = F.binary_cross_entropy_with_logits(logits[:, 0][valid], (target[valid] == 1).float())
    else:
        manual = F.cross_entropy(logits.movedim(1, -1)[valid], target[valid])
    assert expected["ce"].item() == pytest.approx(manual.item(), rel=1e-6)


def test_loss_config_options_reach_the_terms():
    torch.manual_seed(2)
    logits, target = torch.randn(2, 1, 8, 8), torch.randint(0, 2, (2, 8, 8))
    cfg = LossConfig(terms={"focal": 2.0, "ohem": 0.5}, focal_alpha=0.6, focal_gamma=1.0, ohem_threshold=0.9,
                     ohem_min_kept=5)
    loss = build_loss(cfg, "unet", 0)
    expected = (2.0 * binary_focal_loss(logits, target, 0.6, 1.0)
                + 0.5 * ohem_cross_entropy(logits, target, 0.9, 5))
    assert loss({"logits": logits}, target).item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.weights == [1.0]


@pytest.mark.parametrize("family, terms", [("dualstream", {"focal": 0.5, "lovasz": 0.5}),
                                           ("cmx", {"ohem": 1.0, "dice": 1.0}),
                                           ("unet", {"focal": 1.0, "dice": 1.0}),
                                           ("pspnet", {"focal": 1.0, "dice": 1.0}),
                                           ("deeplabv3plus", {"focal": 1.0, "dice": 1.0})])
def test_family_default_losses(family, terms):
    assert LossConfig().terms_for(family) == terms
    assert LossConfig(terms={"ce": 1}).terms_for(family) == {"ce": 1.0}


def test_loss_names_and_weights_are_checked_with_the_valid_names():
    valid = r"use one of \['focal', 'lovasz', 'dice', 'ohem', 'ce'\]"
    with pytest.raises(ConfigError, match=r"'hausdorff' is unknown; " + valid):
        LossConfig(terms={"hausdorff": 1.0})
    with pytest.raises(ConfigError, match="must be a number"):
        LossConfig(terms="focal=x")
    with pytest.raises(ConfigError, match="no loss term with a weight > 0"):
        LossConfig(terms="focal=0")
    assert LossConfig(terms="focal,dice=0.5").terms == {"focal": 1.0, "dice": 0.5}
    # the old flat settings (config files and bundles of earlier versions) still read
    old = TrainConfig.from_dict({"focal_weight": 1.0, "lovasz_weight": 0.0, "dice_weight": 1.0,
                                 "deep_supervision_weights": [1.0, 0.2, 0.1]})
    assert old.loss.terms == {"focal": 1.0, "lovasz": 0.0, "dice": 1.0} and old.loss.side_weights == [0.2, 0.1]


def test_side_weights_must_match_the_models_side_outputs():
    assert LossConfig().side_weights_for("dualstream", 2) == [0.3, 0.15]
    assert LossConfig().side_weights_for("unet", 0) == []
    with pytest.raises(ConfigError, match=r"side_weights has 3 value\(s\).*dualstream model has 2"):
        build_loss(LossConfig(side_weights=[0.3, 0.2, 0.1]), "dualstream", 2)
    with pytest.raises(ConfigError, match="unet model has 0"):
        LossConfig(side_weights=[0.3]).side_weights_for("unet", 0)
    loss = build_loss(LossConfig(terms={"ce": 1}), "unet", 0)
    with pytest.raises(ConfigError, match="returned 1 side output"):
        loss({"logits": torch.zeros(1, 1, 4, 4), "side_logits": [torch.zeros(1, 1, 2, 2)]},
             torch.zeros(1, 4, 4, dtype=torch.long))
