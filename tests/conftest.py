"""Shared fixtures: the real CIFAR-10 PNG tree, found through CIFAR10_ROOT."""

import os
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imported before any test module can run a matrix product, so that the whole suite runs with pinned numerics.
import helpers  # noqa: F401


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """The folder of real car and cat PNGs; the test is skipped when it is not there."""
    root = os.environ.get("CIFAR10_ROOT")
    if not root:
        pytest.skip("CIFAR10_ROOT is not set: point it at the CIFAR-10 PNG tree (../shared/cifar10)")
    if not (Path(root) / "train").is_dir():
        pytest.skip(f"CIFAR10_ROOT={root} holds no PNG tree (train/<class>/NNNNN.png)")
    return Path(root)
