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


__all__ = [
    "ExampleModel",
    "mobilenet_style",
    "randomize_batchnorm",
    "resnet18_style",
    "transformer_block",
]
