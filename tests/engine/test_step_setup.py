"""The training step's setup per device (engine.training.step_setup): precision, memory format and optimiser
implementation, and what the log says of them and of the speed reached."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.runtime.cores import bf16_instructions
from engine.training.step_setup import decide_precision, decide_step, speed_line


def test_decide_precision_gpu_unchanged_and_cpu_bf16_where_native():
    assert decide_precision("cuda", "auto", True) == (torch.bfloat16, False)
    assert decide_precision("cuda", "auto", False) == (torch.float16, True)
    assert decide_precision("cuda", "fp16", True) == (torch.float16, True)
    assert decide_precision("cuda", "off", True) == (None, False)
    with pytest.raises(ConfigError, match="bfloat16"):
        decide_precision("cuda", "bf16", False)
    assert decide_precision("cpu", "auto", True) == (torch.bfloat16, False)
    assert decide_precision("cpu", "auto", False) == (None, False)  # emulated bf16 is slower than fp32
    assert decide_precision("cpu", "bf16", False) == (torch.bfloat16, False)  # asked for: done
    assert decide_precision("cpu", "fp16", True) == (None, False)
    assert decide_precision("cpu", "off", True) == (None, False)
    assert decide_precision("mps", "auto", True) == (None, False)
    with pytest.raises(ConfigError, match="unknown"):
        decide_precision("cpu", "fp8", True)


def test_cpu_step_is_bf16_channels_last_fused_where_the_cpu_has_bf16():
    step = decide_step("cpu", "auto", cpu_bf16="AVX-512 BF16")
    assert (step.amp_dtype, step.scaler, step.channels_last, step.fused) == (torch.bfloat16, False, True, True)
    assert step.optimizer_options == {"fused": True}
    assert step.describe() == ("precision bfloat16 (the CPU computes bfloat16 natively: AVX-512 BF16), "
                               "channels-last, fused optimiser")
    plain = decide_step("cpu", "auto", cpu_bf16=None)
    assert plain.amp_dtype is None and plain.channels_last and plain.fused
    assert "no bfloat16 instructions" in plain.describe() and plain.describe().startswith("precision fp32")
    off = decide_step("cpu", "off", cpu_bf16="AMX-BF16")
    assert off.amp_dtype is None and off.describe().startswith("precision fp32 (amp off)")
    asked = decide_step("cpu", "bf16", cpu_bf16=None)
    assert asked.amp_dtype == torch.bfloat16 and "emulates bfloat16" in asked.describe()
    fp16 = decide_step("cpu", "fp16", cpu_bf16="AMX-BF16")
    assert fp16.amp_dtype is None and "CUDA only" in fp16.warning


def test_gpu_step_keeps_the_reference_setup():
    step = decide_step("cuda", "auto", gpu_bf16=False)
    assert (step.amp_dtype, step.scaler, step.channels_last, step.fused) == (torch.float16, True, False, False)
    assert step.optimizer_options == {} and step.describe() == "precision float16"


def test_step_formats_the_model_and_its_batches():
    step = decide_step("cpu", "off", cpu_bf16=None)
    model = step.model(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv3d(8, 4, (1, 3, 3))))
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last) and not model[0].weight.is_contiguous()
    assert model[1].weight.is_contiguous()  # a 3-D convolution's 5-D weights stay as they are
    batch = step.batch(torch.zeros(2, 3, 8, 8))
    assert batch.is_contiguous(memory_format=torch.channels_last) and not batch.is_contiguous()
    packed = torch.zeros(2, 5)  # cached encoder features: rows, not images
    assert step.batch(packed) is packed


def test_bf16_instructions_from_cpu_flags_and_torch():
    assert bf16_instructions(flags={"avx2", "avx512_bf16"}) == "AVX-512 BF16"
    assert bf16_instructions(flags={"amx_bf16", "avx512_bf16"}) == "AMX-BF16"
    assert bf16_instructions(flags={"avx2", "avx512f"}) is None

    class Cpu:
        @staticmethod
        def _is_amx_tile_supported() -> bool:
            return False

        @staticmethod
        def _is_avx512_bf16_supported() -> bool:
            return True

    assert bf16_instructions(type("Torch", (), {"cpu": Cpu})(), flags=set()) == "AVX-512 BF16"


def test_speed_line_counts_tiles_per_second_and_the_rest():
    epochs = [{"steps": 10, "train_seconds": 4.0, "data_wait_seconds": 0.5, "val_seconds": 1.0, "save_seconds": 0.2},
              {"steps": 10, "train_seconds": 6.0, "data_wait_seconds": 0.1, "val_seconds": 1.5}]
    assert speed_line(epochs, batch_size=4) == ("Speed: 80 training tiles in 10.0 s of steps, 8.0 tiles per second "
                                                "(waiting 0.6 s for tiles); validation 2.5 s, saving 0.2 s.")
    assert speed_line(epochs, batch_size=4, world_size=2).startswith("Speed: 160 training tiles")
    assert speed_line([], batch_size=4) is None


def test_tiles_are_prepared_ahead_only_where_a_core_is_left_for_the_thread(monkeypatch):
    """On a CPU whose every core runs torch's threads the prefetch thread slows the step (the interpreter lock):
    the tiles are then prepared in turn; with a spare core, a GPU, or DataLoader workers as before."""
    from engine.training import steps

    monkeypatch.setattr(steps, "process_cores", lambda: 2)
    assert not steps.prefetch_tiles(0, "cpu", 2)
    assert steps.prefetch_tiles(0, "cpu", 1)
    assert steps.prefetch_tiles(0, "cuda", 2)
    assert not steps.prefetch_tiles(2, "cpu", 1)  # the workers prepare the tiles


@pytest.mark.parametrize("scale", [1e-3, 10.0, float("nan")])
def test_clip_on_the_cpu_gives_clip_grad_norm_bit_for_bit(scale: float):
    """Within the bound the scaling pass is left out (a factor of 1); beyond it, and with a NaN, it is as torch's."""
    gen = torch.Generator().manual_seed(3)
    ours = [torch.nn.Parameter(torch.zeros(n)) for n in (7, 130, 5)]
    theirs = [torch.nn.Parameter(torch.zeros(n)) for n in (7, 130, 5)]
    for a, b in zip(ours, theirs):
        a.grad = torch.randn(a.shape, generator=gen) * scale
        b.grad = a.grad.clone()
    decide_step("cpu", "off").clip(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for a, b in zip(ours, theirs):
        assert torch.equal(a.grad, b.grad) or (a.grad.isnan().all() and b.grad.isnan().all())
    if scale == 10.0:  # beyond the bound: scaled to it
        assert abs(float(torch.linalg.vector_norm(torch.cat([p.grad for p in ours]))) - 1.0) < 1e-4


def test_narrow_channels_last_bf16_group_norm_takes_the_default_layout_kernel():
    from engine.models import build_model
    from engine.models.blocks import GroupNorm

    torch.manual_seed(0)
    for channels in (8, 16):
        ours, stock = GroupNorm(1, channels), torch.nn.GroupNorm(1, channels)
        torch.nn.init.normal_(ours.weight)
        torch.nn.init.normal_(ours.bias)
        stock.load_state_dict(ours.state_dict())  # the same parameters under the same names
        x = (torch.randn(2, channels, 32, 32) * 3 + 1).contiguous(memory_format=torch.channels_last).bfloat16()
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), stock(xb)
        assert ya.dtype == torch.bfloat16 and ya.is_contiguous(memory_format=torch.channels_last)
        grad = torch.randn(ya.shape).bfloat16()
        ya.backward(grad)
        yb.backward(grad)
        if channels < 16:  # the default layout's kernel, bit for bit; within a bfloat16 step of the stock one
            assert torch.equal(ya, stock(x.contiguous()).contiguous(memory_format=torch.channels_last))
            assert (ya.float() - yb.float()).abs().max() <= 2 ** -6 * yb.float().abs().max()
            assert torch.allclose(xa.grad.float(), xb.grad.float(), atol=1e-2)
            assert torch.allclose(ours.weight.grad, stock.weight.grad, atol=1e-3)
        else:  # wide maps: the stock path
            assert torch.equal(ya, yb) and torch.equal(xa.grad, xb.grad)
        plain = torch.randn(2, channels, 8, 8)
        assert torch.equal(ours(plain), stock(plain))  # float32 (inference, export): the stock path
    tiny = build_model("unet", preset="tiny", vision_channels=4, aux_channels=0, num_classes=1)
    norms = [m for m in tiny.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(isinstance(m, GroupNorm) for m in norms)
    assert min(m.num_channels for m in norms) < 16  # the narrow decoder stages this is for


def test_convnext_depthwise_convolution_runs_in_float32_under_cpu_bf16_autocast():
    from engine.models.blocks import ConvNeXtBlock

    torch.manual_seed(0)
    block = ConvNeXtBlock(32, drop_path=0.0).to(memory_format=torch.channels_last)
    x = torch.randn(2, 32, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = block._depthwise(x.bfloat16())
        out = block(x)
    assert inside.dtype == torch.float32  # not autocast's bfloat16 kernel
    assert torch.equal(inside, block.dwconv(x.bfloat16().float()))
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert torch.equal(block._depthwise(x), block.dwconv(x))  # without autocast: the plain convolution


@pytest.mark.parametrize("family,aux_shape", [("dualstream", (2, 8, 8, 8)), ("cmx", (2, 3, 64, 64))])
def test_a_channels_last_step_keeps_every_map_after_the_encoder_channels_last(family: str, aux_shape: tuple):
    """transformers hands MiT's maps over contiguous and image pooling makes a one-pixel map: both once put every
    layer after them in the default layout (DualStream b0's decoder), whose backward passes are the slow ones."""
    from engine.models import build_model
    from engine.training.step_setup import StepSetup

    torch.manual_seed(0)
    extra = {"aux_ratio": 8} if family == "dualstream" else {}
    step = StepSetup("cpu", torch.bfloat16, False, channels_last=True, fused=False)
    model = step.model(build_model(family, preset="tiny", vision_channels=4, aux_channels=aux_shape[1],
                                   num_classes=2, **extra).train())
    seen: list[tuple[str, bool]] = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and "patch_embeddings" not in name and name != "aux_encoder.stem.0":
            module.register_forward_hook(lambda m, inp, out, name=name: seen.append(
                (name, inp[0].shape[-1] * inp[0].shape[-2] == 1 or inp[0].shape[1] == 1
                 or not inp[0].is_contiguous())))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(step.batch(torch.randn(2, 4, 64, 64)), step.batch(torch.randn(*aux_shape)))
    assert out["logits"].shape == (2, 2, 64, 64)
    assert len(seen) > 20 and [name for name, channels_last in seen if not channels_last] == []
