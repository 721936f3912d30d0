"""Shared fixtures (the real CIFAR-10 PNG tree through CIFAR10_ROOT, a small fake one in memory) and helpers."""

import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from torch.utils.data import TensorDataset

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The user's own MKL_CBWR, read before helpers sets the pinned one: a value of the user's is an opt-out.
USER_MKL_CBWR = os.environ.get("MKL_CBWR")

# Imported before any test module can run a matrix product, so that the whole suite runs with pinned numerics.
import helpers  # noqa: E402
import numerics  # noqa: E402

TRAINERS = ("sgd", "manual")


def fit(trainer: str, n_epochs, model, loss_fn, loader, lr, momentum=0.0, weight_decay=0.0) -> list[float]:
    """Train through the public entry points: `train` with torch.optim.SGD ('sgd') or `train_manual_update`."""
    if trainer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        return helpers.train(n_epochs, optimizer, model, loss_fn, loader)
    return helpers.train_manual_update(n_epochs, model, loss_fn, loader, lr, momentum, weight_decay)


def same_tensors(first, second) -> bool:
    """Whether two sequences of tensors are equal bit for bit, pair by pair (and equally long)."""
    return all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def unpinned_by_design() -> bool:
    """True where the numbers cannot be the committed ones: no MKL, no AVX2, or the user's own MKL_CBWR."""
    no_avx2 = torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512")
    opted_out = USER_MKL_CBWR not in (None, numerics.PINNED_MKL_MODE)
    return not torch.backends.mkl.is_available() or no_avx2 or opted_out


@pytest.fixture
def pinned_numerics() -> None:
    """Skip where the numbers are unpinned by design; fail where they should be pinned and are not."""
    if helpers.NUMERICS_PROBLEM is None:
        return
    if unpinned_by_design():
        pytest.skip(f"numerics not pinned: {helpers.NUMERICS_PROBLEM}")
    pytest.fail(f"numerics should be pinned on this machine but are not: {helpers.NUMERICS_PROBLEM}")


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """The folder of real car and cat PNGs; the test is skipped when it is not there."""
    root = os.environ.get("CIFAR10_ROOT")
    if not root:
        pytest.skip("CIFAR10_ROOT is not set: point it at the CIFAR-10 PNG tree (../shared/cifar10)")
    if not (Path(root) / "train").is_dir():
        pytest.skip(f"CIFAR10_ROOT={root} holds no PNG tree (train/<class>/NNNNN.png)")
    return Path(root)


@pytest.fixture
def fake_cifar2() -> helpers.Cifar2:
    """Random images in the shape of the real data, alternating labels: 64 to train on, 32 each to validate and test."""
    rng, sizes = torch.Generator().manual_seed(0), {"train": 64, "val": 32, "test": 32}
    raw = {split: torch.randint(256, (n, 3, 16, 16), dtype=torch.uint8, generator=rng) for split, n in sizes.items()}
    splits = {split: TensorDataset((raw[split] / 255 - 0.5) / 0.25, torch.arange(n) % 2) for split, n in sizes.items()}
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.25)
    return helpers.Cifar2(**splits, mean=mean, std=std, classes=helpers.CLASSES, raw=raw)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say in one line when the notebooks' result cells cannot be compared with the committed outputs."""
    if helpers.NUMERICS_PROBLEM and unpinned_by_design():
        return f"numerics not pinned ({helpers.NUMERICS_PROBLEM}): notebook cells tagged pinned-numerics run unchecked"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Off pinned numerics, nbval runs the cells that print the run's results but does not compare their outputs."""
    if not (helpers.NUMERICS_PROBLEM and unpinned_by_design()):
        return
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and "pinned-numerics" in cell.metadata.get("tags", []):
            item.options["check"] = False
