"""Frontend patterns of the model zoos (issue 13): attention modules, tokens, hard activations,
resizing, layouts; all unsupported ops reported at once with module paths; layer names."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from anncc.errors import UnsupportedOpsError
from anncc.examples import models
from anncc.frontend import import_model
from anncc.frontend.diagnostics import UnsupportedOp, unsupported_message
from anncc.ir import parse_module, print_module
from anncc.runtime.interpreter import run_module

TOL = 1e-5


def check(model: nn.Module, *shapes: tuple[int, ...], batch: int = 3) -> object:
    """Import with batch-1 inputs, run the ann module at `batch`, compare with PyTorch."""
    model = model.eval()
    gen = torch.Generator().manual_seed(0)
    module, store = import_model(model, tuple(torch.rand(1, *s, generator=gen) for s in shapes))
    inputs = [torch.randn(batch, *s, generator=gen) for s in shapes]
    outs, _ = run_module(module, store, inputs)
    with torch.no_grad():
        ref = model(*inputs)
    refs = ref if isinstance(ref, tuple) else (ref,)
    for y, r in zip(outs, refs):
        assert y.shape == r.shape
        err = float((y - r).abs().max() / r.abs().max())
        assert err <= TOL, err
    text = print_module(module)
    assert print_module(parse_module(text)) == text  # the new ops round-trip
    return module


# --------------------------------------------------------------------------- attention


class Attention(nn.Module):
    def __init__(self, batch_first: bool, cross: bool = False, kdim: int | None = None,
                 mask: str = "", need_weights: bool = False, average: bool = True, L: int = 5):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.batch_first, self.cross = batch_first, cross
        self.need_weights, self.average = need_weights, average
        self.kv = nn.Linear(8, kdim or 8)
        self.mask_kind = mask
        gen = torch.Generator().manual_seed(3)
        banned = (torch.rand(L, L, generator=gen) < 0.3) & ~torch.eye(L, dtype=torch.bool)
        self.register_buffer("bool_mask", banned)
        self.register_buffer("float_mask", torch.randn(L, L, generator=gen))
        self.register_buffer("head_mask", torch.randn(2, L, L, generator=gen))
        pad = torch.zeros(1, L, dtype=torch.bool)
        pad[0, -1] = True
        self.register_buffer("pad", pad)

    def forward(self, x: torch.Tensor):
        q = x
        kv = self.kv(x) if self.cross else x
        if not self.batch_first:
            q, kv = q.transpose(0, 1), kv.transpose(0, 1)
        kw: dict = {}
        if self.mask_kind == "bool":
            kw["attn_mask"] = self.bool_mask
        elif self.mask_kind == "float":
            kw["attn_mask"] = self.float_mask
        elif self.mask_kind == "heads":  # [N * heads, L, S]; N is 1 when exported
            kw["attn_mask"] = self.head_mask.repeat(x.shape[0], 1, 1)
        elif self.mask_kind == "padding":
            kw["key_padding_mask"] = self.pad.expand(x.shape[0], -1)
        elif self.mask_kind == "causal":
            kw["attn_mask"] = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
            kw["is_causal"] = True
        y, w = self.mha(q, kv, kv if self.cross else q, need_weights=self.need_weights,
                        average_attn_weights=self.average, **kw)
        if not self.batch_first:
            y = y.transpose(0, 1)
        return (y, w) if self.need_weights else y


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("mask", ["", "bool", "float", "padding", "causal"])
def test_multihead_attention_in_both_layouts_with_and_without_masks(batch_first, mask):
    batch = 1 if mask == "heads" else 3
    check(Attention(batch_first, mask=mask), (5, 8), batch=batch)


def test_multihead_attention_cross_kdim_per_head_masks_and_weights():
    check(Attention(True, cross=True), (5, 8))
    check(Attention(True, cross=True, kdim=6), (5, 8))  # separate q/k/v projection weights
    check(Attention(True, mask="heads"), (5, 8), batch=1)
    check(Attention(True, need_weights=True), (5, 8))  # the head-averaged weights too
    check(Attention(False, need_weights=True, average=False), (5, 8))


def test_attention_rewrite_keeps_parameter_names_and_restores_the_module():
    model = Attention(True)
    module, store = import_model(model, (torch.rand(1, 5, 8),))
    assert "mha.in_proj_weight" in store and "mha.out_proj.weight" in store
    assert "forward" not in model.mha.__dict__  # the instance forward is removed again
    names = {op.results[0].name_hint for op in module.walk() if op.results}
    assert {"mha.linear", "mha.out_proj", "mha.softmax"} <= names


def test_scaled_dot_product_attention_with_a_constant_mask_and_causal():
    class SDPA(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("mask", torch.rand(4, 4) > 0.3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q = x.unflatten(-1, (2, 4)).transpose(1, 2)
            a = F.scaled_dot_product_attention(q, q, q, attn_mask=self.mask | torch.eye(4, dtype=torch.bool))
            return a + F.scaled_dot_product_attention(q, q, q, is_causal=True)

    check(SDPA(), (4, 8))


def test_sequence_first_masked_vit_matches_pytorch():
    model, _ = models.tiny_vit(batch_first=False, masked=True)
    check(model, (3, 16, 16))


def test_batch_moving_permutations_stay_lazy_until_undone():
    class Twice(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x.permute(1, 0, 2).transpose(0, 1) * 2)

    check(Twice(), (4, 6))

    class Moves(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x.transpose(0, 1))

    with pytest.raises(UnsupportedOpsError, match=r"permutation \[1, 0, 2\] moves the batch axis"):
        import_model(Moves(), (torch.rand(1, 4, 6),))


# --------------------------------------------------------------------------- tokens, activations


def test_class_tokens_and_positional_embeddings_join_activations():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cls = nn.Parameter(torch.randn(1, 1, 6))
            self.pos = nn.Parameter(torch.randn(1, 5, 6))
            self.fc = nn.Linear(6, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), self.fc(x)], dim=1)
            return x + self.pos

    module = check(Tokens(), (4, 6))
    assert any(op.name == "ann.batch_broadcast" for op in module.walk())

    class BatchedConstant(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Parameter(torch.randn(2, 1, 6))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.c, x.expand(2, -1, -1)], dim=1)

    with pytest.raises(UnsupportedOpsError):
        import_model(BatchedConstant(), (torch.rand(1, 4, 6),))


@pytest.mark.parametrize("act", [nn.Hardsigmoid(), nn.Hardswish(), nn.SiLU(), nn.Mish(),
                                 nn.Hardtanh(-0.5, 0.7), nn.ReLU6()])
def test_hard_and_smooth_activations(act):
    check(nn.Sequential(nn.Conv2d(3, 4, 3), act), (3, 6, 6))


def test_clamps_with_any_bounds():
    class Clamps(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.clamp(min=-0.2) + x.clamp(max=0.3) + x.clamp(-1, 2) + x.clamp(0, 6)

    module = check(Clamps(), (7,))
    assert sum(op.name == "ann.clamp" for op in module.walk()) == 3


# --------------------------------------------------------------------------- layouts, resizing


def test_squeeze_excitation_layer_scale_and_channels_last_layer_norm():
    check(models.SqueezeExcitation(8, 4), (8, 5, 5))
    check(models.CNBlock(8, layer_scale=0.3), (8, 5, 5))
    check(models.LayerNorm2d(8), (8, 3, 4))


def test_channel_shuffle_flatten_of_a_permuted_layout_and_uneven_adaptive_pooling():
    class Layouts(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = models.DenseNetStyle.channel_shuffle(x, 2)
            flat = s.permute(0, 2, 3, 1).flatten(1)
            pooled = F.adaptive_avg_pool2d(x, (3, 2)).reshape(x.shape[0], -1)
            return torch.cat([flat, pooled, x.view(x.shape[0], -1)], 1)

    check(Layouts(), (4, 5, 7))


@pytest.mark.parametrize("kw", [dict(scale_factor=2, mode="nearest"),
                                dict(scale_factor=1.5, mode="nearest"),
                                dict(size=(7, 3), mode="nearest"),
                                dict(scale_factor=2, mode="bilinear", align_corners=False),
                                dict(size=(9, 5), mode="bilinear", align_corners=True)])
def test_interpolation(kw):
    class Resize(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, **kw)

    module = check(Resize(), (2, 4, 5))
    assert any(op.name == "ann.interpolate" for op in module.walk())


# --------------------------------------------------------------------------- diagnostics, names


class Erf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class ManyUnsupported(nn.Module):
    """Nine unsupported modules, then an unsupported op downstream of them."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(nn.Sequential(nn.Linear(4, 4), Erf()) for _ in range(9)))
        self.head = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(self.blocks(x))
        y = F.interpolate(y.unsqueeze(1).unsqueeze(1), scale_factor=2, mode="bicubic")
        return y.flatten(1)


def test_every_unsupported_op_is_reported_at_once_grouped_with_module_paths():
    with pytest.raises(UnsupportedOpsError) as err:
        import_model(ManyUnsupported(), (torch.rand(1, 4),))
    message = str(err.value)
    assert message.startswith("10 unsupported operations (2 kinds)")
    assert "aten.erf.default x9: no ann mapping" in message
    for i in range(9):
        assert f"- blocks.{i}.1 (Erf), node erf" in message
    assert "test_frontend_zoo.py:" in message and "torch.erf(x)" in message
    assert "aten.upsample_bicubic2d.vec x1" in message  # found after the nine, in the same pass
    assert "hint: use F.interpolate(mode='nearest' or 'bilinear')" in message


def test_unsupported_message_lists_a_bounded_number_of_places():
    ops = [UnsupportedOp("aten.sin.default", f"sin_{i}", f"m.{i}", "Sin", None, "no ann mapping")
           for i in range(20)]
    text = unsupported_message(ops, max_places=5)
    assert text.startswith("20 unsupported operations (1 kind)")
    assert "... and 15 more" in text and "m.4 (Sin)" in text and "m.5 (Sin)" not in text


def test_layer_names_come_from_module_paths_and_are_unique():
    model, inputs = models.mobilenet_v3_style(image_size=16)
    module, _ = import_model(model, inputs)
    hints = [op.results[0].name_hint for op in module.walk() if op.results]
    assert len(hints) == len(set(hints))
    for name in ("features.0.0", "features.1.block.2.fc1", "features.1.block.2.scale_activation",
                 "features.2.block.2.mul", "features.2.block.0.2", "classifier.0", "classifier.3"):
        assert name in hints, name


def test_digital_op_costs_count_attention_matmuls_and_softmax():
    from anncc.passes.digital_ops import FP32_ADD_J, FP32_MUL_J, digital_op_costs

    model, inputs = models.transformer_block(seq_len=16, d_model=64, heads=4)
    module, _ = import_model(model, inputs)
    costs = digital_op_costs(module)
    mm = costs["per_op"]["ann.matmul"]
    # QKᵀ and AV: 4 heads x 16 x 16 outputs, 16 products each
    assert mm["ops"] == 2 and mm["multiplies"] == 2 * 4 * 16 * 16 * 16
    assert mm["energy_j"] == pytest.approx(mm["multiplies"] * FP32_MUL_J + mm["adds"] * FP32_ADD_J)
    assert costs["per_op"]["ann.softmax"]["ops"] == 1 and "ann.linear" not in costs["per_op"]
    assert costs["total"]["energy_j"] == pytest.approx(sum(v["energy_j"] for v in costs["per_op"].values()))


@pytest.mark.parametrize("norm_first", [False, True])
def test_sequence_first_transformer_encoder_imports(norm_first):
    """nn.TransformerEncoderLayer's default layout is [L, N, E]: elementwise ops, linears and
    layer norms run on the batch-first source of the lazily transposed activations."""
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=False, norm_first=norm_first)

    class SeqFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.pos = nn.Parameter(torch.randn(5, 1, 16))  # [L, 1, E]: sequence-first

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.encoder(x.transpose(0, 1) + self.pos).transpose(0, 1)

    check(SeqFirst(), (5, 16))

    class NormOverBatch(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # normalizes over (N, E): refused
            return F.layer_norm(x.transpose(0, 1), (1, 4)).transpose(0, 1)

    with pytest.raises(UnsupportedOpsError, match="moves an axis this op works along"):
        import_model(NormOverBatch(), (torch.rand(1, 3, 4),))
