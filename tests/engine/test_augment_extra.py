"""Copy-paste of foreground instances and the photometric options for 3-band imagery (HSV-like, CLAHE)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import AugmentConfig
from engine.data.augment import AugmentParams, clahe, hsv_like, photometric, sample_params
from engine.data.copy_paste import connected_components, copy_paste, copy_paste_collate

IGN = 255


def test_connected_components_are_8_connected():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[0:2, 0:2] = True
    mask[2, 2] = True  # touches the first square diagonally: same object
    mask[5:8, 5] = True
    mask[0, 7] = True
    labels, n = connected_components(mask)
    assert n == 3
    assert labels[0, 0] == labels[2, 2] != labels[6, 5] != labels[0, 7]
    assert (labels[~mask] == 0).all() and (labels[mask] > 0).all()
    full, count = connected_components(torch.ones(4, 4, dtype=torch.bool))
    assert count == 1 and (full == 1).all()


def _batch(size: int = 4, tile: int = 32, ratio: int = 4) -> dict:
    gen = torch.Generator().manual_seed(0)
    labels = torch.zeros(size, tile, tile, dtype=torch.long)
    for b in range(size):
        for _ in range(3):  # a few rectangular objects of class 1 or 2
            r, c = torch.randint(0, tile - 6, (2,), generator=gen).tolist()
            labels[b, r:r + 5, c:c + 4] = 1 + b % 2
    labels[0, :, :2] = IGN
    labels[3] = 0  # a tile without foreground is a target but never a source
    vision = torch.rand(size, 3, tile, tile, generator=gen)
    vision[:, 0] = torch.arange(size, dtype=torch.float32)[:, None, None]  # band 0 names the tile a pixel is from
    aux = torch.arange(size, dtype=torch.float32)[:, None, None, None].expand(size, 2, tile // ratio,
                                                                               tile // ratio).clone()
    return {"vision": vision, "labels": labels, "aux": aux}


def test_copy_paste_keeps_image_label_and_aux_consistent():
    batch = _batch()
    before = {k: v.clone() for k, v in batch.items()}
    copy_paste(batch, np.random.default_rng(3), probability=1.0, ignore_index=IGN, aux_ratio=4)
    pasted_any = False
    for i in range(4):
        source = batch["vision"][i, 0].long()  # which tile each pixel now comes from
        pasted = source != i
        pasted_any |= bool(pasted.any())
        assert source.unique().numel() <= 2  # one source tile per target
        for s in source.unique().tolist():
            where = source == s
            # every pixel, pasted or not, carries the vision and label of the same source pixel
            assert torch.equal(batch["vision"][i][:, where], before["vision"][s][:, where])
            assert torch.equal(batch["labels"][i][where], before["labels"][s][where])
            if s != i:
                fg = (before["labels"][s] != 0) & (before["labels"][s] != IGN)
                assert fg[where].all()  # only foreground objects are pasted
                components, n = connected_components(fg)
                for c in range(1, n + 1):  # ... and only whole objects
                    part = where[components == c]
                    assert part.all() or not part.any()
                # aux cells mostly covered by pasted objects come from the source as well
                cells = torch.nn.functional.avg_pool2d(where[None, None].float(), 4)[0, 0] > 0.5
                assert (batch["aux"][i][:, cells] == s).all() and (batch["aux"][i][:, ~cells] == i).all()
        assert not (before["labels"][3] != 0).any() or i != 3
    assert pasted_any
    # tile 3 had no foreground: no other tile received pixels from it
    assert not any((batch["vision"][i, 0] == 3).any() for i in range(3))


def test_copy_paste_collate_is_reproducible_and_off_at_zero():
    samples = [{k: v[b] for k, v in _batch().items()} for b in range(4)]
    torch.manual_seed(5)
    a = copy_paste_collate(samples, 1.0, IGN, 4)
    torch.manual_seed(5)
    b = copy_paste_collate(samples, 1.0, IGN, 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    plain = copy_paste_collate(samples, 0.0, IGN, 4)
    assert torch.equal(plain["labels"], _batch()["labels"])


def test_hsv_like():
    rgb = np.random.default_rng(0).random((3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(hsv_like(rgb, 0.0, 1.0, 1.0), rgb, atol=1e-6)
    gray = hsv_like(rgb, 0.0, 0.0, 1.0)  # no saturation: every band is the pixel's gray
    np.testing.assert_allclose(gray, np.broadcast_to(rgb.mean(0), rgb.shape), atol=1e-6)
    # a hue turn of 120 degrees about the gray axis moves R to G, G to B and B to R
    np.testing.assert_allclose(hsv_like(rgb, 2 * np.pi / 3, 1.0, 1.0), rgb[[2, 0, 1]], atol=1e-5)
    np.testing.assert_allclose(hsv_like(rgb, 0.0, 1.0, 0.5), rgb * 0.5, atol=1e-6)


def test_clahe_spreads_a_low_contrast_band_within_its_range():
    rng = np.random.default_rng(1)
    band = (0.5 + 0.02 * rng.random((1, 64, 64))).astype(np.float32)  # most pixels in a narrow range
    band[0, 10, ::8], band[0, 50, ::8] = 0.0, 1.0  # ... of a band whose range is wide
    valid = np.ones((64, 64), bool)
    valid[:4] = False
    bulk = valid & (band[0] > 0.25) & (band[0] < 0.75)

    def spread(x):
        return np.percentile(x[bulk], 90) - np.percentile(x[bulk], 10)

    strong, mild = clahe(band * valid, valid, 40.0, 2), clahe(band * valid, valid, 1.0, 2)
    assert (strong[0][~valid] == 0).all()
    assert strong[0][valid].min() >= 0.0 and strong[0][valid].max() <= 1.0 + 1e-6  # the band's own range
    assert spread(strong[0]) > 5 * spread(band[0])  # the narrow bulk is stretched ...
    assert spread(mild[0]) < spread(strong[0])  # ... less with a lower clip limit


def test_photometric_options_apply_only_when_drawn_and_keep_old_draws():
    cfg = AugmentConfig()
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert sample_params(rng_a, cfg) == sample_params(rng_b, AugmentConfig(hsv=0.0, clahe_probability=0.0))
    assert rng_a.random() == rng_b.random()  # no extra draws without the new options: old runs unchanged
    params = sample_params(np.random.default_rng(2), AugmentConfig(hsv=0.5, clahe_probability=1.0))
    assert params.clahe and params.hue != 0.0 and params.saturation != 1.0
    rgb = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    changed = photometric(rgb, None, AugmentParams(hue=1.0))
    assert not np.allclose(changed, rgb)
    four = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)
    assert photometric(four, None, AugmentParams(hue=1.0)) is four  # HSV needs 3 bands: 4-band tiles untouched
    with pytest.raises(Exception, match="augment.hsv"):
        AugmentConfig(hsv=2.0)
