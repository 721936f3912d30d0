"""Train one configuration once in this fresh process and print the training's wall time as JSON.

Run from the repository root:  python -m benchmarks.train_once [--config INDEX] [--trainer sgd|manual] [--epochs N]

The last line printed is {"seconds": ..., "numerics_mode": ..., "threads": ...}: the time of helpers.train_config
alone (loading the data is not timed), MKL's mode as it reads back and torch's thread count. The mode is whatever
MKL_CBWR in the environment asks for (helpers pins COMPATIBLE when it is unset), so that benchmarks/run.py can time
each mode in a process of its own: MKL reads the setting once, at its first matrix product.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import helpers as h


def main() -> None:
    """Parse the options, train the configuration once and print the time and the numerics as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=int, default=3, choices=range(len(h.CONFIGS)), help="index into helpers.CONFIGS (default 3)"
    )
    parser.add_argument("--trainer", choices=("sgd", "manual"), default="sgd", help="the trainer (default sgd)")
    parser.add_argument("--epochs", type=int, default=h.EPOCHS, help=f"epochs (default helpers.EPOCHS, {h.EPOCHS})")
    options = parser.parse_args()
    data = h.load_cifar2()
    start = time.perf_counter()
    h.train_config(h.CONFIGS[options.config], data, options.trainer, n_epochs=options.epochs)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "numerics_mode": h.NUMERICS_MODE, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
