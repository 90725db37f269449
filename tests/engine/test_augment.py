"""Joint augmentation keeps vision, aux and label in correspondence; photometric touches vision only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import AugmentConfig
from engine.data.augment import (
    AugmentParams,
    augment_dates,
    augment_season,
    geometric,
    photometric,
    sample_params,
    window_size,
)

R = 4  # aux ratio used by the pattern tiles
IGNORE = 255


def pattern_tile(size: int, r: int = R) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Vision = (column, row) coordinates of pixel centres; aux = the same at block centres; label from them."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    cols = coords.expand(size, size)
    rows = coords[:, None].expand(size, size)
    vision = torch.stack([cols, rows]).clone()
    acoords = (torch.arange(size // r, dtype=torch.float32) + 0.5) * r
    n = size // r
    aux = torch.stack([acoords.expand(n, n), acoords[:, None].expand(n, n)]).clone()
    label = label_of(vision)
    return vision, aux, label


def label_of(vision: torch.Tensor, block: int = 16) -> torch.Tensor:
    """The label that belongs at a pixel, as a function of the map position the vision stream shows there."""
    return ((torch.floor(vision[0] / block) + 2 * torch.floor(vision[1] / block)) % 3).to(torch.int64)


def block_mean(vision: torch.Tensor, r: int = R) -> torch.Tensor:
    c, h, w = vision.shape
    return vision.reshape(c, h // r, r, w // r, r).mean(dim=(2, 4))


@pytest.mark.parametrize("hflip,vflip,k90", [(True, False, 0), (False, True, 0), (False, False, 1),
                                             (False, False, 2), (False, False, 3), (True, True, 1)])
def test_exact_transforms_keep_correspondence(hflip: bool, vflip: bool, k90: int) -> None:
    vision, aux, label = pattern_tile(32)
    params = AugmentParams(hflip=hflip, vflip=vflip, k90=k90)
    v, a, lab = geometric(vision, aux, label, params, 32, R)
    assert v.shape == (2, 32, 32) and a.shape == (2, 8, 8) and lab.shape == (32, 32) and lab.dtype == torch.int64
    assert not torch.equal(v, vision)  # the transform did something
    assert torch.equal(lab, label_of(v))  # label follows the vision pixels exactly
    assert torch.allclose(a, block_mean(v))  # each aux pixel shows the footprint of its vision block


@pytest.mark.parametrize("scale,angle", [(1.5, 0.0), (0.75, 0.0), (1.0, 10.0), (1.25, -8.0)])
def test_resampling_keeps_correspondence(scale: float, angle: float) -> None:
    tile = 64
    size = window_size(tile, scale, R)
    vision, aux, label = pattern_tile(size)
    params = AugmentParams(scale=scale, angle=angle)
    v, a, lab = geometric(vision, aux, label, params, tile, R, IGNORE)
    assert v.shape == (2, tile, tile) and a.shape == (2, tile // R, tile // R) and lab.shape == (tile, tile)
    # The output spans the whole window: the first/last pixel centres sit near the window's edges.
    assert v[0, tile // 2, 0] < size * 0.1 + 2 and v[0, tile // 2, -1] > size * 0.9 - 2
    inner = slice(tile // 4, 3 * tile // 4)  # away from rotated-in corners and zero padding
    ainner = slice(tile // (4 * R), 3 * tile // (4 * R))
    expected_label = label_of(v)
    agree = (lab[inner, inner] == expected_label[inner, inner]).float().mean()
    assert agree > 0.9  # nearest vs bilinear differ only on block boundaries
    assert torch.allclose(a[:, ainner, ainner], block_mean(v)[:, ainner, ainner], atol=0.05 * size / tile + 0.05)


@pytest.mark.parametrize("k90", [0, 1, 2, 3])
@pytest.mark.parametrize("hflip,vflip", [(False, False), (True, False), (False, True), (True, True)])
def test_turns_and_flips_with_resampling_equal_resampling_then_turning_bit_for_bit(k90: int, hflip: bool,
                                                                                   vflip: bool) -> None:
    """The quarter turns and flips ride on the sampling grid: the values of resampling, then turning the arrays."""
    tile, scale = 64, 1.25
    size = window_size(tile, scale, R)
    vision, aux, label = pattern_tile(size)
    vision = vision + torch.rand(vision.shape, generator=torch.Generator().manual_seed(k90))  # no symmetry to hide in
    label[::7, ::5] = 2  # and a label that is not the vision's function alone
    turned = AugmentParams(scale=scale, angle=7.0, k90=k90, hflip=hflip, vflip=vflip)
    v, a, lab = geometric(vision, aux, label, turned, tile, R, IGNORE)
    rv, ra, rlab = geometric(vision, aux, label, AugmentParams(scale=scale, angle=7.0), tile, R, IGNORE)
    flips = tuple(ax for ax, on in ((-1, hflip), (-2, vflip)) if on)

    def turn(x: torch.Tensor) -> torch.Tensor:
        x = torch.rot90(x, k90, dims=(-2, -1))
        return torch.flip(x, flips) if flips else x

    assert torch.equal(v, turn(rv)) and torch.equal(a, turn(ra)) and torch.equal(lab, turn(rlab))
    assert v.is_contiguous() and a.is_contiguous() and lab.is_contiguous() and lab.dtype == torch.int64
    assert (lab == IGNORE).any()  # rotated-in corners are there to be turned


def test_rotation_fills_corners_with_ignore_and_zero() -> None:
    vision, aux, label = pattern_tile(64)
    vision = vision + 1.0  # no genuine zeros
    aux = aux + 1.0
    v, a, lab = geometric(vision, aux, label, AugmentParams(angle=10.0), 64, R, IGNORE)
    assert lab[0, 0] == IGNORE and lab[-1, -1] == IGNORE and lab[0, -1] == IGNORE
    assert torch.all(v[:, 0, 0] == 0) and torch.all(a[:, 0, 0] == 0)
    assert (lab[24:40, 24:40] != IGNORE).all()
    assert torch.all(v[:, 32, 32] > 0)


def test_photometric_is_vision_only_and_keeps_nodata_zero() -> None:
    vision, aux, label = pattern_tile(32)
    vision = vision / 32.0
    valid = torch.ones(32, 32, dtype=torch.bool)
    valid[:4] = False
    vision[:, :4] = 0.0
    params = AugmentParams(brightness=0.1, contrast=1.2, gray=True)
    v, a, lab = augment_dates(vision.clone().numpy(), valid.numpy(), aux.clone(), label.clone(), params, 1, None, False,
                              [0, 0, 0], 32, R, 255)
    assert torch.equal(a, aux) and torch.equal(lab, label)  # aux and label untouched
    assert not torch.allclose(v, vision)
    assert torch.all(v[:, :4] == 0)  # nodata stays 0
    assert torch.allclose(v[0], v[1])  # gray: all bands equal
    # contrast about the valid mean + brightness shift
    gray = vision.mean(dim=0)
    mean = gray[4:].mean()
    assert torch.allclose(v[0, 4:], (gray[4:] - mean) * 1.2 + mean + 0.1, atol=1e-5)


def test_photometric_identity_returns_input() -> None:
    vision = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    assert photometric(vision, None, AugmentParams()) is vision


@pytest.mark.parametrize("valid_share", [1.0, 0.9])
@pytest.mark.parametrize("gray", [False, True])
def test_photometric_gives_the_masked_formula_bit_for_bit(valid_share: float, gray: bool) -> None:
    """The contrast and brightness of a tile are exactly float32 ``((x - mean) * contrast + mean + brightness) * mask``
    with the mean over valid pixels (a tile of valid pixels only skips the mask's passes, not its values), a new
    array the input's shape, the input untouched."""
    rng = np.random.default_rng(1)
    vision = rng.random((4, 40, 40), dtype=np.float32)
    valid = rng.random((40, 40)) < valid_share
    vision[:, ~valid] = 0.0
    before = vision.copy()
    params = AugmentParams(brightness=0.07, contrast=1.13, gray=gray)
    got = photometric(vision, valid, params)
    maskf = valid.astype(np.float32)
    x = np.broadcast_to(vision.mean(axis=0, keepdims=True), vision.shape) if gray else vision
    mean = (x * maskf).sum(axis=(-2, -1), keepdims=True) / max(float(maskf.sum()), 1.0)
    expected = ((x - mean) * np.float32(1.13) + mean + np.float32(0.07)) * maskf
    assert got.dtype == np.float32 and got.flags.c_contiguous and got is not vision
    assert np.array_equal(got, expected) and np.array_equal(vision, before)
    assert np.array_equal(photometric(vision, None, params), photometric(vision, np.ones((40, 40), bool), params))


def test_sample_params_respects_config_and_seed() -> None:
    cfg = AugmentConfig(flips=False, rot90=False, rotation_degrees=0.0, scale_range=[1.0, 1.0],
                        color_jitter=0.0, gray_probability=0.0)
    params = sample_params(np.random.default_rng(1), cfg)
    assert params == AugmentParams()
    cfg = AugmentConfig(scale_range=[0.5, 2.0], rotation_degrees=15.0)
    draws = [sample_params(np.random.default_rng(s), cfg) for s in range(200)]
    assert all(0.5 <= p.scale <= 2.0 and abs(p.angle) <= 15.0 for p in draws)
    assert {p.k90 for p in draws} == {0, 1, 2, 3}
    assert 40 < sum(p.hflip for p in draws) < 160
    assert sample_params(np.random.default_rng(7), cfg) == sample_params(np.random.default_rng(7), cfg)
    assert sample_params(np.random.default_rng(7), cfg) != sample_params(np.random.default_rng(8), cfg)


def test_window_size_is_multiple_of_ratio() -> None:
    for scale in (0.5, 0.77, 1.0, 1.33):
        s = window_size(64, scale, 8)
        assert s % 8 == 0 and abs(s - 64 * scale) <= 4


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_the_resampling_cut_into_a_band_a_thread_gives_the_one_call_values(threads):
    """Bilinear and nearest resampling share the output's rows among torch's threads (a batch item each): the
    values are those of one ``grid_sample`` over the whole tile, also where the rows do not divide (3 threads)."""
    import torch.nn.functional as F

    from engine.data.augment import _resample, _resample_nearest, _sampling_grid

    rng = np.random.default_rng(0)
    image = rng.random((4, 90, 90), dtype=np.float32)
    label = rng.integers(0, 5, (90, 90)).astype(np.uint8)
    grid = _sampling_grid(17.0, 64, 1, True)
    whole = F.grid_sample(torch.from_numpy(image)[None], torch.from_numpy(grid)[None], mode="bilinear",
                          padding_mode="zeros", align_corners=False)[0].numpy()
    nearest = F.grid_sample(torch.from_numpy(label.astype(np.float32) + 1)[None, None], torch.from_numpy(grid)[None],
                            mode="nearest", padding_mode="zeros", align_corners=False)[0, 0].numpy()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cut, labels = _resample(image, grid), _resample_nearest(label, grid, IGNORE)
    finally:
        torch.set_num_threads(before)
    assert cut.shape == (4, 64, 64) and np.array_equal(cut, whole)
    assert np.array_equal(labels, np.where(nearest > 0, nearest - 1, IGNORE).astype(np.int64))
    assert (labels == IGNORE).any() and (labels < 5).any()  # corners rotated in, classes inside


def test_a_seasons_dates_share_one_photometric_draw() -> None:
    """A season's classes are told by how its dates' values rise and fall: every date takes the tile's one draw (its
    own valid pixels' mean for the contrast), so the step from one date to the next is kept; a draw per date (a
    change pair's) shifted each date's level apart from the others' (steps of 0.11 to 0.37 here, not 0.3)."""
    base = np.random.default_rng(0).random((1, 16, 16), dtype=np.float32)
    vision = np.concatenate([base, base + 0.3, base - 0.2])  # three dates of one band, the same pattern shifted
    date_valid = np.ones((3, 16, 16), bool)
    date_valid[2, :4] = False  # a cloud on the third date
    params = AugmentParams(brightness=0.15, contrast=1.3)
    moved, valid, _, _ = augment_season(vision.copy(), date_valid, None, None, params, 16, 1, IGNORE)
    expected = [photometric(vision[t:t + 1], date_valid[t], params) for t in range(3)]
    assert torch.equal(valid, torch.from_numpy(date_valid))
    for t in range(3):
        assert np.allclose(moved[t].numpy(), expected[t][0], atol=1e-5)
    assert np.allclose((moved[1] - moved[0]).numpy(), 0.3, atol=1e-5)  # the step between the dates is kept
