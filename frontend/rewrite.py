"""Module rewrites applied before `torch.export`, for modules whose own forward anncc cannot map.

`nn.MultiheadAttention.forward` moves the batch off axis 0 (it works in
`[L, N, E]` internally even with `batch_first=True`) and merges it with the heads
(`view(L, N * H, head_dim)`), which the batch-agnostic `ann` IR refuses. While
exporting, `batch_first_attention(model)` replaces the forward of every such
module (the instance's, not the class's; the module, its class and its
parameter names stay, so module paths and state-dict keys are unchanged) with
`attention_forward`, the same computation keeping the batch on axis 0:

    q, k, v = in-projections           (one linear for self-attention: `attn.in_proj_weight`)
    q, k, v -> [N, H, L, head_dim]     (unflatten + transpose, batch untouched)
    w = softmax(q·kᵀ / √head_dim + mask)
    y = out_proj((w·v) -> [N, L, E])

Masks (`attn_mask` [L, S] or [N·H, L, S], `key_padding_mask` [N, S], boolean or
float, `is_causal`) must be constants (buffers): they fold into one additive
float mask at import. A sequence-first module (`batch_first=False`) gets its
`[L, N, E]` inputs from a transpose in the model; the importer composes that
transpose with the one here, so the batch never moves. Modules with
`add_bias_kv` or `add_zero_attn` are left alone (and reported as unsupported).
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

Tensor = torch.Tensor


def _float_mask(mask: Tensor) -> Tensor:
    """MultiheadAttention's mask as an additive float mask (boolean True = not allowed)."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=torch.float32).masked_fill(mask, float("-inf"))
    return mask.to(torch.float32)


def attention_forward(self: nn.MultiheadAttention, query: Tensor, key: Tensor, value: Tensor,
                      key_padding_mask: Tensor | None = None, need_weights: bool = True,
                      attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                      is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """`nn.MultiheadAttention.forward` (eval mode) with the batch kept on axis 0."""
    self_attention = query is key and key is value
    if not self.batch_first:
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    n, L, e = query.shape
    s = key.shape[1]
    h = self.num_heads
    hd = e // h
    bias = self.in_proj_bias
    b_q, b_k, b_v = bias.chunk(3) if bias is not None else (None, None, None)
    if self._qkv_same_embed_dim and self_attention:
        q, k, v = F.linear(query, self.in_proj_weight, bias).split(e, dim=-1)
    elif self._qkv_same_embed_dim:
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        q, k, v = F.linear(query, w_q, b_q), F.linear(key, w_k, b_k), F.linear(value, w_v, b_v)
    else:
        q = F.linear(query, self.q_proj_weight, b_q)
        k = F.linear(key, self.k_proj_weight, b_k)
        v = F.linear(value, self.v_proj_weight, b_v)
    q = q.unflatten(-1, (h, hd)).transpose(1, 2)  # [N, H, L, hd]
    k = k.unflatten(-1, (h, hd)).transpose(1, 2)
    v = v.unflatten(-1, (h, hd)).transpose(1, 2)
    mask = None
    if attn_mask is not None:
        mask = _float_mask(attn_mask)
        if mask.dim() == 3:
            mask = mask.reshape(-1, h, L, s)
    elif is_causal:
        mask = _float_mask(torch.ones(L, s, dtype=torch.bool).triu(1))
    if key_padding_mask is not None:
        pad = _float_mask(key_padding_mask).reshape(-1, 1, 1, s)
        mask = pad if mask is None else mask + pad
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
    if mask is not None:
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    y = torch.matmul(weights, v).transpose(1, 2).flatten(2)  # [N, L, E]
    y = self.out_proj(y)
    if not self.batch_first:
        y = y.transpose(0, 1)
    if not need_weights:
        return y, None
    return y, weights.mean(dim=1) if average_attn_weights else weights


def rewritable(m: nn.Module) -> bool:
    """An nn.MultiheadAttention that `attention_forward` computes exactly."""
    return (isinstance(m, nn.MultiheadAttention) and m.bias_k is None and m.bias_v is None
            and not m.add_zero_attn)


@contextmanager
def batch_first_attention(model: nn.Module) -> Iterator[int]:
    """Within the block, every rewritable nn.MultiheadAttention in `model` runs `attention_forward`.

    Yields how many modules were rewritten; restores them on exit.
    """
    patched = [m for m in model.modules() if rewritable(m) and "forward" not in m.__dict__]
    for m in patched:
        m.forward = types.MethodType(attention_forward, m)  # type: ignore[method-assign]
    try:
        yield len(patched)
    finally:
        for m in patched:
            del m.forward
