"""Shared fixtures: the real CIFAR-10 PNG tree, found through CIFAR10_ROOT."""

import os
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imported before any test module can run a matrix product, so that the whole suite runs with pinned numerics.
import helpers


@pytest.fixture(scope="session")
def cifar_root() -> Path:
    """The folder of real car and cat PNGs; the test is skipped when it is not there."""
    root = os.environ.get("CIFAR10_ROOT")
    if not root:
        pytest.skip("CIFAR10_ROOT is not set: point it at the CIFAR-10 PNG tree (../shared/cifar10)")
    if not (Path(root) / "train").is_dir():
        pytest.skip(f"CIFAR10_ROOT={root} holds no PNG tree (train/<class>/NNNNN.png)")
    return Path(root)


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say in one line when the notebooks' result cells cannot be compared with the committed outputs."""
    if helpers.NUMERICS_PROBLEM:
        return f"numerics not pinned ({helpers.NUMERICS_PROBLEM}): notebook cells tagged pinned-numerics run unchecked"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Off pinned numerics, nbval runs the cells that print the run's results but does not compare their outputs."""
    if not helpers.NUMERICS_PROBLEM:
        return
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and "pinned-numerics" in cell.metadata.get("tags", []):
            item.options["check"] = False
