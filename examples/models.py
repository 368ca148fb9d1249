"""Reference model topologies with random weights, each with an example input.

These are the shapes of network anncc must compile: a ResNet-18 (residual adds,
batch norm, 11M weights), a MobileNet-style network (depthwise-separable
convolutions, ReLU6) and a transformer encoder block (layer norm, attention
matmuls, softmax, GELU). The weights are random but seeded, and the batch-norm
statistics are random too, so that folding batch norm is a real test (fresh
PyTorch statistics make it almost an identity).

    from anncc.examples.models import resnet18_style
    model, example_inputs = resnet18_style()
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


class ExampleModel(NamedTuple):
    """A model in eval mode and the inputs to export it with (batch 1)."""

    model: nn.Module
    example_inputs: tuple[torch.Tensor, ...]


def randomize_batchnorm(model: nn.Module, generator: torch.Generator) -> None:
    """Give every batch norm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                m.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))


# --------------------------------------------------------------------------- ResNet-18


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual add (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    """The ResNet-18 topology of torchvision: 7x7 stem, max pool, 4 stages of 2 blocks."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = (64, 128, 256, 512)
        stages = []
        c_in = 64
        for i, c in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(c_in, c, stride), BasicBlock(c, c, 1)))
            c_in = c
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18_style(image_size: int = 64, num_classes: int = 10, seed: int = 0) -> ExampleModel:
    """A ResNet-18 (11.2M weights) for `3 x image_size x image_size` images.

    Any size from 32 up works: the stem and four stages divide it by 32 before
    the adaptive average pool. Tests use 32 to stay fast.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = ResNet18(num_classes)
    randomize_batchnorm(model, gen)
    x = torch.rand(1, 3, image_size, image_size, generator=gen)
    return ExampleModel(model.eval(), (x,))


# --------------------------------------------------------------------------- MobileNet


def conv_bn_relu6(c_in: int, c_out: int, k: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 linear projection, residual."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.use_residual = stride == 1 and c_in == c_out
        self.block = nn.Sequential(
            conv_bn_relu6(c_in, hidden, 1, 1),
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


class MobileNetStyle(nn.Module):
    """A narrow MobileNetV2: stem, inverted residuals (depthwise 3x3, ReLU6), pooled head."""

    # (expansion, output channels, blocks, first stride), as in MobileNetV2's table
    SETTINGS = ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 2, 2), (4, 64, 2, 2))

    def __init__(self, num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu6(3, 16, 3, 1)]
        c_in = 16
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(conv_bn_relu6(c_in, 128, 1, 1))
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean((2, 3))
        return self.classifier(self.dropout(x))


def mobilenet_style(image_size: int = 32, num_classes: int = 10, seed: int = 0) -> ExampleModel:
    """A MobileNetV2-style network for `3 x image_size x image_size` images."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = MobileNetStyle(num_classes)
    randomize_batchnorm(model, gen)
    x = torch.rand(1, 3, image_size, image_size, generator=gen)
    return ExampleModel(model.eval(), (x,))


# --------------------------------------------------------------------------- transformer


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder block with explicit attention matmuls.

    Attention is written out (QKV linears, QKᵀ, softmax, AV) rather than
    calling `scaled_dot_product_attention`, so every step is an op anncc maps:
    the linears onto crossbars, the activation matmuls onto digital logic.
    """

    def __init__(self, d_model: int = 64, heads: int = 4, d_ff: int = 128):
        super().__init__()
        self.heads, self.d_head = heads, d_model // heads
        self.norm1 = nn.LayerNorm(d_model)
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(0.1)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.d_head).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.norm1(x)
        q, k, v = (self.split_heads(proj(h)) for proj in (self.q, self.k, self.v))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.d_head))
        att = torch.softmax(scores, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.dropout(self.proj(y))
        return x + self.dropout(self.ff2(self.act(self.ff1(self.norm2(x)))))


def transformer_block(seq_len: int = 16, d_model: int = 64, heads: int = 4,
                      seed: int = 0) -> ExampleModel:
    """One encoder block on `[1, seq_len, d_model]` token embeddings."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = EncoderBlock(d_model, heads, 2 * d_model)
    with torch.no_grad():  # non-trivial layer-norm affine parameters
        for norm in (model.norm1, model.norm2):
            norm.weight.copy_(0.8 + 0.4 * torch.rand(d_model, generator=gen))
            norm.bias.copy_(0.1 * torch.randn(d_model, generator=gen))
    x = torch.randn(1, seq_len, d_model, generator=gen)
    return ExampleModel(model.eval(), (x,))


# --------------------------------------------------------------------------- model zoo patterns
# Small re-implementations of the patterns of torchvision's model zoo that anncc must import
# (issue 13): written here because torchvision does not install beside torch 2.13.


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _randomize_norms(model: nn.Module, gen: torch.Generator) -> None:
    """Batch norms and layer norms with non-trivial statistics and affine parameters."""
    randomize_batchnorm(model, gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm) and m.weight is not None:
                m.weight.copy_(0.8 + 0.4 * torch.rand(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


class ViTBlock(nn.Module):
    """A pre-norm ViT encoder block around `nn.MultiheadAttention` (torchvision's EncoderBlock)."""

    def __init__(self, d: int, heads: int, d_ff: int, batch_first: bool = True):
        super().__init__()
        self.batch_first = batch_first
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, dropout=0.1, batch_first=batch_first)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, d_ff), nn.GELU(), nn.Dropout(0.1), nn.Linear(d_ff, d))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                padding: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln_1(x)
        if not self.batch_first:  # sequence-first attention: [L, N, E]
            h = h.transpose(0, 1)
        h, _ = self.self_attention(h, h, h, attn_mask=mask, key_padding_mask=padding,
                                   need_weights=False)
        if not self.batch_first:
            h = h.transpose(0, 1)
        x = x + h
        return x + self.mlp(self.ln_2(x))


class TinyViT(nn.Module):
    """A DeiT-style vision transformer: patch embedding, class and distillation tokens,
    learned positional embedding, encoder blocks with `nn.MultiheadAttention`, two heads.

    `masked=True` adds a constant attention mask (a boolean buffer) and a key padding mask;
    `batch_first=False` runs the attention sequence-first, as older models do.
    """

    def __init__(self, image_size: int = 16, patch: int = 4, d: int = 32, depth: int = 2,
                 heads: int = 4, num_classes: int = 10, batch_first: bool = True,
                 masked: bool = False):
        super().__init__()
        n = (image_size // patch) ** 2
        self.conv_proj = nn.Conv2d(3, d, patch, stride=patch)
        self.class_token = nn.Parameter(0.02 * torch.randn(1, 1, d))
        self.dist_token = nn.Parameter(0.02 * torch.randn(1, 1, d))
        self.pos_embedding = nn.Parameter(0.02 * torch.randn(1, n + 2, d))
        self.layers = nn.ModuleList(ViTBlock(d, heads, 2 * d, batch_first) for _ in range(depth))
        self.ln = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, num_classes)
        self.head_dist = nn.Linear(d, num_classes)
        self.masked = masked
        if masked:
            banned = (torch.rand(n + 2, n + 2) < 0.2) & ~torch.eye(n + 2, dtype=torch.bool)
            self.register_buffer("mask", banned)  # True: this query may not attend to this key
            pad = torch.zeros(1, n + 2, dtype=torch.bool)
            pad[0, -2:] = True  # the last two patches are padding
            self.register_buffer("padding", pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)  # [N, patches, d]
        n = x.shape[0]
        x = torch.cat([self.class_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), x], 1)
        x = x + self.pos_embedding
        for layer in self.layers:
            x = layer(x, self.mask, self.padding.expand(n, -1)) if self.masked else layer(x)
        x = self.ln(x)
        return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2


def tiny_vit(image_size: int = 16, batch_first: bool = True, masked: bool = False,
             seed: int = 0) -> ExampleModel:
    """A two-block DeiT-style ViT on `3 x image_size x image_size` images (about 30k weights)."""
    gen = _seeded(seed)
    model = TinyViT(image_size, batch_first=batch_first, masked=masked)
    _randomize_norms(model, gen)
    return ExampleModel(model.eval(), (torch.rand(1, 3, image_size, image_size, generator=gen),))


class SqueezeExcitation(nn.Module):
    """torchvision's SqueezeExcitation: pool, 1x1 reduce, ReLU, 1x1 expand, Hardsigmoid gate."""

    def __init__(self, c: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return s * x


def conv_bn_act(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1,
                act: type[nn.Module] | None = nn.Hardswish) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class MobileNetV3Block(nn.Module):
    """MobileNetV3's inverted residual: expand, depthwise, squeeze-excitation, project."""

    def __init__(self, c_in: int, hidden: int, c_out: int, k: int, stride: int,
                 act: type[nn.Module] = nn.Hardswish):
        super().__init__()
        self.use_res_connect = stride == 1 and c_in == c_out
        self.block = nn.Sequential(
            conv_bn_act(c_in, hidden, 1, act=act),
            conv_bn_act(hidden, hidden, k, stride, groups=hidden, act=act),
            SqueezeExcitation(hidden, max(8, hidden // 4)),
            conv_bn_act(hidden, c_out, 1, act=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_res_connect else y


class MobileNetV3Style(nn.Module):
    """A narrow MobileNetV3: Hardswish stem, SE blocks (one with SiLU, one with Mish), head."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_act(3, 16, 3, 2),
            MobileNetV3Block(16, 32, 16, 3, 1, nn.ReLU),
            MobileNetV3Block(16, 48, 24, 5, 2, nn.Hardswish),
            MobileNetV3Block(24, 64, 24, 3, 1, nn.SiLU),
            MobileNetV3Block(24, 64, 24, 3, 1, nn.Mish),
            conv_bn_act(24, 96, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(96, 64), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def mobilenet_v3_style(image_size: int = 32, seed: int = 0) -> ExampleModel:
    """A MobileNetV3-style network: squeeze-excitation with Hardsigmoid, Hardswish, SiLU, Mish."""
    gen = _seeded(seed)
    model = MobileNetV3Style()
    _randomize_norms(model, gen)
    return ExampleModel(model.eval(), (torch.rand(1, 3, image_size, image_size, generator=gen),))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's LayerNorm2d: layer norm over the channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """ConvNeXt's block: depthwise 7x7, channels-last layer norm, MLP, layer scale, residual."""

    def __init__(self, c: int, layer_scale: float = 1e-6):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(c, c, 7, padding=3, groups=c),
            Permute((0, 2, 3, 1)),
            nn.LayerNorm(c, eps=1e-6),
            nn.Linear(c, 4 * c),
            nn.GELU(),
            nn.Linear(4 * c, c),
            Permute((0, 3, 1, 2)),
        )
        self.layer_scale = nn.Parameter(torch.full((c, 1, 1), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer_scale * self.block(x)


class Permute(nn.Module):
    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self.dims)


class ConvNeXtStyle(nn.Module):
    """ConvNeXt (Liu et al. 2022): 4x4 patchify stem with LayerNorm2d, stages of CNBlocks,
    LayerNorm2d + 2x2 stride-2 downsampling, pooled head. `convnext_tiny_style` gives
    ConvNeXt-T's widths and depths (28.6M weights)."""

    def __init__(self, dims: tuple[int, ...] = (16, 32), depths: tuple[int, ...] = (1, 1),
                 num_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dims[0], 4, stride=4),
                                                 LayerNorm2d(dims[0], eps=1e-6))]
        for i, (c, n) in enumerate(zip(dims, depths)):
            layers.append(nn.Sequential(*(CNBlock(c, layer_scale=0.5) for _ in range(n))))
            if i + 1 < len(dims):
                layers.append(nn.Sequential(LayerNorm2d(c, eps=1e-6),
                                            nn.Conv2d(c, dims[i + 1], 2, stride=2)))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1),
                                        nn.Linear(dims[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


def convnext_style(image_size: int = 16, seed: int = 0) -> ExampleModel:
    """A two-stage ConvNeXt with one block per stage (tests)."""
    gen = _seeded(seed)
    model = ConvNeXtStyle()
    _randomize_norms(model, gen)
    return ExampleModel(model.eval(), (torch.rand(1, 3, image_size, image_size, generator=gen),))


def convnext_tiny_style(image_size: int = 64, seed: int = 0) -> ExampleModel:
    """ConvNeXt-T's topology (dims 96-768, depths 3-3-9-3, 28M weights) for benchmarks."""
    gen = _seeded(seed)
    model = ConvNeXtStyle((96, 192, 384, 768), (3, 3, 9, 3), num_classes=1000)
    _randomize_norms(model, gen)
    return ExampleModel(model.eval(), (torch.rand(1, 3, image_size, image_size, generator=gen),))


class DenseLayer(nn.Module):
    """DenseNet's layer: BN-ReLU-1x1 conv (bottleneck), BN-ReLU-3x3 conv, concatenated."""

    def __init__(self, c_in: int, growth: int, bn_size: int = 2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(c_in)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(c_in, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class DenseNetStyle(nn.Module):
    """A DenseNet: dense blocks (every layer sees all earlier features), transitions
    (BN-ReLU-1x1 conv, 2x2 average pool), channel shuffle and a bilinear/nearest
    upsampling side branch (segmentation-head patterns), pooled head."""

    def __init__(self, growth: int = 8, layers: int = 3, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.block1 = nn.ModuleList(DenseLayer(16 + i * growth, growth) for i in range(layers))
        c = 16 + layers * growth
        self.transition = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 16, 1, bias=False),
                                        nn.AvgPool2d(2))
        self.block2 = nn.ModuleList(DenseLayer(16 + i * growth, growth) for i in range(layers))
        self.norm5 = nn.BatchNorm2d(c)
        self.side = nn.Conv2d(c, 4, 1)
        self.pool = nn.AdaptiveAvgPool2d((3, 3))  # does not divide the 8x8 map: uneven windows
        self.classifier = nn.Linear(c * 9 + 4 * 9, num_classes)

    @staticmethod
    def dense(block: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in block:
            features.append(layer(features))
        return torch.cat(features, 1)

    @staticmethod
    def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
        n, c, h, w = x.shape
        return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense(self.block1, self.stem(x))
        x = self.dense(self.block2, self.transition(x))
        x = self.channel_shuffle(torch.relu(self.norm5(x)), 4)
        side = self.side(x)
        up = F.interpolate(side, scale_factor=2, mode="nearest")
        side = F.interpolate(up, size=side.shape[-2:], mode="bilinear", align_corners=False)
        y = torch.cat([self.pool(x).flatten(1), self.pool(side).flatten(1)], 1)
        return self.classifier(y)


def densenet_style(image_size: int = 16, seed: int = 0) -> ExampleModel:
    """A DenseNet-style network with channel shuffle, interpolation and uneven adaptive pooling."""
    gen = _seeded(seed)
    model = DenseNetStyle()
    _randomize_norms(model, gen)
    return ExampleModel(model.eval(), (torch.rand(1, 3, image_size, image_size, generator=gen),))


__all__ = [
    "ExampleModel",
    "convnext_style",
    "convnext_tiny_style",
    "densenet_style",
    "mobilenet_style",
    "mobilenet_v3_style",
    "randomize_batchnorm",
    "resnet18_style",
    "tiny_vit",
    "transformer_block",
]
