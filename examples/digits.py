"""Small trained models on scikit-learn's 8x8 digits: an MLP and a CNN, trained in seconds.

The data ships with scikit-learn (`load_digits`, 1797 images, no download).
Training is seeded and runs on the CPU in a couple of seconds; the trained
models are cached per process, so tests that need them train once.

    python -m anncc.examples.digits build/       # writes digits_mlp.pt2, digits_cnn.pt2

    from anncc.examples.digits import load_digits_split, train_cnn
    x_train, y_train, x_test, y_test = load_digits_split()
    model = train_cnn()                          # shared, cached: deepcopy before changing it
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import torch
from torch import nn

SEED = 0
TEST_FRACTION = 0.2


@functools.lru_cache(maxsize=2)
def _split(flat: bool) -> Split:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # pixels are 0..16
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(SEED))
    x, y = x[order], y[order]
    x = x.reshape(len(y), 64) if flat else x.reshape(len(y), 1, 8, 8)
    n_test = int(len(y) * TEST_FRACTION)
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def load_digits_split(flat: bool = False) -> Split:
    """(x_train, y_train, x_test, y_test): float32 pixels in [0, 1] and int64 labels.

    Images are `[N, 1, 8, 8]` (for the CNN), or `[N, 64]` with `flat=True` (for
    the MLP). The split is a fixed shuffle: 80 % train, 20 % test.
    """
    return tuple(t.clone() for t in _split(flat))  # type: ignore[return-value]


class DigitsMLP(nn.Module):
    """64 -> 32 -> 10 with a ReLU."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(x)))


class DigitsCNN(nn.Module):
    """conv 1->8 3x3, ReLU, max-pool 2, conv 8->16 3x3, ReLU, flatten, linear 256->10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def _fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
         batch: int = 64) -> nn.Module:
    """Adam on cross-entropy over shuffled minibatches; seeded, so runs repeat exactly.

    Runs on one thread: the tensors are tiny, so more threads only add overhead
    (and on a busy machine, much of it); the caller's thread count is restored.
    """
    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model.train()
    try:
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch):
                idx = order[i:i + batch]
                opt.zero_grad()
                loss_fn(model(x[idx]), y[idx]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@functools.lru_cache(maxsize=1)
def train_mlp() -> DigitsMLP:
    """The trained MLP (about 96 % test accuracy), cached: deepcopy it before changing it."""
    torch.manual_seed(SEED)
    x, y, _, _ = load_digits_split(flat=True)
    model = DigitsMLP()
    _fit(model, x, y, epochs=20, lr=1e-2)
    return model


@functools.lru_cache(maxsize=1)
def train_cnn() -> DigitsCNN:
    """The trained CNN (about 97 % test accuracy), cached: deepcopy it before changing it."""
    torch.manual_seed(SEED)
    x, y, _, _ = load_digits_split()
    model = DigitsCNN()
    _fit(model, x, y, epochs=10, lr=1e-2)
    return model


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of `x` that `model` labels correctly."""
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def export(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """Save `model` as a torch.export archive with a batch-1 example input."""
    torch.export.save(torch.export.export(model, (example[:1],)), str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    """Train both models, print their test accuracy, save `digits_mlp.pt2` and `digits_cnn.pt2`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=".", help="where to write the .pt2 files")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, model, flat in (("mlp", train_mlp(), True), ("cnn", train_cnn(), False)):
        _, _, x_test, y_test = load_digits_split(flat=flat)
        path = export(model, x_test, out / f"digits_{name}.pt2")
        print(f"digits {name}: test accuracy {accuracy(model, x_test, y_test):.3f} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
