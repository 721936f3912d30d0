"""Measure every performance target (README, Performance) side by side, in one process, and print the ratios.

Run from the repository root:  python benchmarks/run.py [--only NAME ...] [--repeats N]

Each target times the project's way and a reference way alternately, `--repeats` times, and reports the
median of each, their ratio and the target. It asserts nothing and always exits 0: a slow machine gives
MISS lines, never a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import helpers as h  # noqa: E402

N_EPOCHS, BATCH_SIZE = 30, 256


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall-clock time of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def side_by_side(ours: Callable[[], object], reference: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Medians of both, timed alternately so that both see the same machine load."""
    ours_times, reference_times = [], []
    for _ in range(repeats):
        ours_times.append(median_seconds(ours, 1))
        reference_times.append(median_seconds(reference, 1))
    return statistics.median(ours_times), statistics.median(reference_times)


def report(name: str, ours: float, reference: float | None, target: str, passed: bool, unit: str = "s") -> None:
    """One line per target: both medians, the ratio, the target and the verdict."""
    ratio = f"{ours / reference:6.3f}x" if reference else "      -"
    reference_text = f"{reference:9.3f} {unit}" if reference is not None else "          -"
    print(
        f"{name:22s} ours {ours:9.3f} {unit}  reference {reference_text}  ratio {ratio}  target {target:16s} "
        f"{'PASS' if passed else 'MISS'}",
        flush=True,
    )


def bare_loop(data: h.Cifar2, config: dict) -> None:
    """The reference training: a plain PyTorch loop over preloaded tensors, same model, batches and steps."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"]
    )
    loss_fn = nn.CrossEntropyLoss()
    x, y = data.train.tensors
    generator = torch.Generator().manual_seed(h.SEED)
    for _epoch in range(N_EPOCHS):
        order = torch.randperm(len(y), generator=generator)
        shuffled_x, shuffled_y = x[order], y[order]
        for start in range(0, len(y), BATCH_SIZE):
            optimizer.zero_grad()
            loss = loss_fn(model(shuffled_x[start : start + BATCH_SIZE]), shuffled_y[start : start + BATCH_SIZE])
            loss.backward()
            optimizer.step()


def ours_train(data: h.Cifar2, config: dict) -> None:
    """One 30-epoch run of helpers.train with torch.optim.SGD."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"]
    )
    h.train(N_EPOCHS, optimizer, model, nn.CrossEntropyLoss(), h.make_loader(data.train, BATCH_SIZE))


def ours_manual(data: h.Cifar2, config: dict) -> None:
    """One 30-epoch run of helpers.train_manual_update."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    hyper = h.sgd_settings(config)
    h.train_manual_update(N_EPOCHS, model, nn.CrossEntropyLoss(), h.make_loader(data.train, BATCH_SIZE), **hyper)


def bench_data(data: h.Cifar2, repeats: int) -> None:
    """Our cold preparation plus 30 epochs of batches vs an ImageFolder + transforms + DataLoader pipeline."""
    from torchvision import datasets, transforms

    root = Path(os.environ.get("CIFAR10_ROOT", "data"))
    if not (root / "train").is_dir():
        print("data: needs CIFAR10_ROOT pointing at a PNG tree; skipped")
        return

    def ours() -> None:
        prepared = h.load_cifar2(root, cache_dir=None)
        loader = h.make_loader(prepared.train, BATCH_SIZE)
        for _epoch in range(N_EPOCHS):
            for _batch in loader:
                pass

    transform = transforms.Compose(
        [
            transforms.Resize(16, antialias=True),
            transforms.ToTensor(),
            transforms.Normalize(data.mean.tolist(), data.std.tolist()),
        ]
    )
    textbook_loader = torch.utils.data.DataLoader(
        datasets.ImageFolder(root / "train", transform=transform), batch_size=BATCH_SIZE, shuffle=True
    )
    sampled_epochs = 2

    def textbook() -> None:
        for _epoch in range(sampled_epochs):
            for _batch in textbook_loader:
                pass

    ours_time, textbook_time = side_by_side(ours, textbook, repeats)
    textbook_time *= N_EPOCHS / sampled_epochs
    report("data (30 epochs)", ours_time, textbook_time, "ratio <= 0.1", ours_time <= 0.1 * textbook_time)

    cold = median_seconds(lambda: h.load_cifar2(root, cache_dir=None), repeats)
    report("data: cold prepare", cold, None, "< 3 s", cold < 3)
    with tempfile.TemporaryDirectory() as cache_dir:
        h.load_cifar2(root, cache_dir=cache_dir)
        cached = median_seconds(lambda: h.load_cifar2(root, cache_dir=cache_dir), repeats)
    report("data: cached reload", cached, None, "< 0.3 s", cached < 0.3)


def bench_train(data: h.Cifar2, repeats: int) -> None:
    """helpers.train vs the bare loop."""
    config = h.CONFIGS[3]
    ours, reference = side_by_side(lambda: ours_train(data, config), lambda: bare_loop(data, config), repeats)
    report("train (30 epochs)", ours, reference, "ratio <= 1.25", ours <= 1.25 * reference)


def bench_manual(data: h.Cifar2, repeats: int) -> None:
    """train_manual_update vs train."""
    config = h.CONFIGS[3]
    ours, reference = side_by_side(lambda: ours_manual(data, config), lambda: ours_train(data, config), repeats)
    report("manual vs train", ours, reference, "ratio <= 1.1", ours <= 1.1 * reference)


def bench_backprop(data: h.Cifar2, repeats: int) -> None:
    """backpropagation vs autograd's backward() on [768, 128, 32, 2], batch 256, float32, same forward pass."""
    torch.manual_seed(h.SEED)
    model = h.MyNet([768, 128, 32, 2])
    x = data.train.tensors[0][:256]
    y_true = nn.functional.one_hot(data.train.tensors[1][:256], 2).float()
    steps = 200

    def timed(backward: Callable[[torch.Tensor], None]) -> float:
        total = 0.0
        for _ in range(steps):
            model.zero_grad()
            y_pred = model(x)
            start = time.perf_counter()
            backward(y_pred)
            total += time.perf_counter() - start
        return total

    def manual(y_pred: torch.Tensor) -> None:
        h.backpropagation(model, y_true, y_pred)

    def autograd(y_pred: torch.Tensor) -> None:
        h.sum_squared_error(y_true, y_pred).backward()

    pairs = [(timed(manual), timed(autograd)) for _ in range(repeats)]
    ours = statistics.median(p[0] for p in pairs) / steps * 1e3
    reference = statistics.median(p[1] for p in pairs) / steps * 1e3
    report("backprop (per batch)", ours, reference, "ratio <= 1.5", ours <= 1.5 * reference, unit="ms")


def bench_study(data: h.Cifar2, repeats: int) -> None:
    """The five-model study, both trainers with their evaluations, vs ten bare loops."""

    def study() -> None:
        for config in h.CONFIGS:
            h.train_both(config, data, n_epochs=N_EPOCHS, batch_size=BATCH_SIZE)

    def ten_bare_loops() -> None:
        for config in h.CONFIGS:
            bare_loop(data, config)
            bare_loop(data, config)

    ours, reference = side_by_side(study, ten_bare_loops, max(1, repeats // 2))
    report("study (10 trainings)", ours, reference, "ratio <= 1.3", ours <= 1.3 * reference)


def bench_notebook(data: h.Cifar2, repeats: int) -> None:
    """A full project1.ipynb Run All in a child process vs as many bare loops as it has trainings; its peak memory.

    Run All is timed as a user sees it, in a started kernel: from the first cell's start to the last cell's
    reply, as the kernel's own timing records say. The child's whole life, kernel start and stop included, is
    printed beside it.
    """
    # The kernel reports its own peak in a cell appended to an in-memory copy; the file is not rewritten.
    script = (
        "import datetime, json, nbformat, nbclient\n"
        "notebook = nbformat.read('project1.ipynb', as_version=4)\n"
        "probe = 'import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)'\n"
        "notebook.cells.append(nbformat.v4.new_code_cell(probe))\n"
        "client = nbclient.NotebookClient(notebook, timeout=1200, resources={'metadata': {'path': '.'}})\n"
        "client.execute()\n"
        "cells = [cell for cell in notebook.cells if cell.cell_type == 'code']\n"
        "stamp = lambda cell, key: datetime.datetime.fromisoformat(cell.metadata.execution[key])\n"
        "run_all = stamp(cells[-2], 'shell.execute_reply') - stamp(cells[0], 'iopub.execute_input')\n"
        "print(json.dumps({'run_all': run_all.total_seconds(), 'peak_kib': int(cells[-1].outputs[0]['text'])}))\n"
    )
    # Both trainers of the five configurations, both trainers of the second-seed check, and the seed study's other
    # runs but the one that check already made.
    trainings = 2 * len(h.CONFIGS) + 2 + (len(h.STUDY_SEEDS) - 1) * len(h.CONFIGS) - 1
    configs = [h.CONFIGS[index % len(h.CONFIGS)] for index in range(trainings)]
    peaks, lives = [], []

    def notebook() -> float:
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
        lives.append(time.perf_counter() - start)
        if completed.returncode != 0:
            raise RuntimeError(f"the notebook failed to run:\n{completed.stderr[-2000:]}")
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        peaks.append(measured["peak_kib"] / 1024)  # Linux reports ru_maxrss in KiB
        return measured["run_all"]

    def bare_loops() -> float:
        return median_seconds(lambda: [bare_loop(data, config) for config in configs], 1)

    # Each pair runs back to back, so a ratio within a pair sees one machine load; the median ratio is reported.
    pairs = [(notebook(), bare_loops()) for _ in range(max(1, repeats // 2))]
    ratios = sorted(ours / reference for ours, reference in pairs)
    ours, reference = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratio = statistics.median(ratios)
    report(f"notebook Run All ({trainings})", ours, reference, "ratio <= 1.3", ratio <= 1.3)
    print(f"{'':22s} (ratio per pair {', '.join(f'{r:.3f}' for r in ratios)}; median {ratio:.3f})")
    print(f"{'':22s} (the child process lived {statistics.median(lives):.1f} s, kernel start and stop included)")
    peak_mib = max(peaks)
    report("memory: project1 peak", peak_mib, None, "< 1024 MiB", peak_mib < 1024, unit="MiB")


PINNING_WORKER = """
import sys, time
import torch
import helpers as h
data = h.load_cifar2()
torch.manual_seed(h.SEED)
model = h.MyMLP()
config = h.CONFIGS[3]
hyper = h.sgd_settings(config)
optimizer = torch.optim.SGD(model.parameters(), **hyper)
start = time.perf_counter()
h.train(30, optimizer, model, torch.nn.CrossEntropyLoss(), h.make_loader(data.train))
print(h.NUMERICS_MODE, torch.get_num_threads(), time.perf_counter() - start)
"""


def bench_pinning(data: h.Cifar2, repeats: int) -> None:
    """One 30-epoch training in the default, pinned mode vs the fastest mode, each in a fresh process."""
    modes = {}

    def train_in_process(mkl_cbwr: str) -> float:
        env = {**os.environ, "MKL_CBWR": mkl_cbwr, "PYTHONPATH": str(REPO)}
        completed = subprocess.run(
            [sys.executable, "-c", PINNING_WORKER], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        mode, threads, seconds = completed.stdout.split()
        modes[mkl_cbwr] = f"{mode} with {threads} threads"
        return float(seconds)

    pinned_times, fastest_times = [], []
    for _ in range(repeats):
        pinned_times.append(train_in_process(h.PINNED_MKL_MODE))
        # The opt-out: MKL picks its fastest kernels and helpers leaves torch's thread count alone.
        fastest_times.append(train_in_process("AUTO"))
    pinned, fastest = statistics.median(pinned_times), statistics.median(fastest_times)
    report("pinned vs fastest", pinned, fastest, "ratio <= 1.6", pinned <= 1.6 * fastest)
    print(f"{'':22s} (pinned: {modes[h.PINNED_MKL_MODE]}; fastest: {modes['AUTO']})")


BENCHMARKS = {
    "data": bench_data,
    "train": bench_train,
    "manual": bench_manual,
    "backprop": bench_backprop,
    "study": bench_study,
    "pinning": bench_pinning,
    "notebook": bench_notebook,
}


def main() -> None:
    """Parse the options and run the chosen benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these targets")
    parser.add_argument(
        "--repeats", type=int, default=5, help="repeats per measurement (default 5; 1 for a quick look)"
    )
    options = parser.parse_args()
    os.chdir(REPO)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {os.cpu_count()} cores, repeats {options.repeats}")
    data = h.load_cifar2()
    for name in options.only or BENCHMARKS:
        BENCHMARKS[name](data, options.repeats)


if __name__ == "__main__":
    main()
