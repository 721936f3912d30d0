"""Measure every performance target (README, Performance) side by side and print the measurements and their ratios.

Run from the repository root, with CIFAR10_ROOT pointing at the data:

    python benchmarks/run.py [--only NAME ...] [--repeats N] [--epochs N]

Targets: data, train, manual, backprop, study, pool, scaling, price, pinning, memory, notebook (all by default).

It prints first the machine: the CPU model, the usable cores, torch's version and threads and MKL's numerics mode.
Then each target times the project's way and a reference way alternately, `--repeats` times, and prints a line with
the median of each, their ratio and the target, PASS or MISS. The targets that compare processes (pool, scaling, price,
pinning) run every measurement in a fresh process, `python -m benchmarks.study_once` for the whole study and
`python -m benchmarks.train_once` for one training; they print every pair and judge the median of the per-pair ratios.
`memory` runs the study once with the pool and prints the peak resident memory of its main process and of all its
processes together. `--epochs` shortens every training for a quick look; the notebook target runs project1.ipynb as
it stands, with its own epochs, and its bare loops match it.

It asserts nothing timed and always exits 0: a slow machine gives MISS lines, and a target that cannot run prints an
ERROR line while the others still run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import helpers as h  # noqa: E402
from numerics import PINNED_MKL_MODE  # noqa: E402

SIDE = " " * 22  # the indent of the lines that explain the line above them, under the targets' names


@dataclass(frozen=True)
class Settings:
    """What every target is given: the repeats per measurement and the epochs per training."""

    repeats: int
    epochs: int


@dataclass(frozen=True)
class Way:
    """One side of a comparison between processes: a short label and how to run it once (returns the child's JSON)."""

    label: str
    run: Callable[[], dict]


# --- The machine -----------------------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module reports, else 'unknown CPU'."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or "unknown CPU"


def usable_cores() -> list[int]:
    """The cores this process may run on, as helpers.run_trainings counts them (every core where the OS cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


# --- Timing and printing ---------------------------------------------------------------------------------------------


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


def report(
    name: str,
    ours: float,
    reference: float | None,
    target: str,
    passed: bool | None,
    *,
    unit: str = "s",
    ratio: float | None = None,
    labels: tuple[str, str] = ("ours", "reference"),
) -> None:
    """One line per target: both values, the ratio (ours / reference unless given), the target and the verdict.

    `passed` None prints no verdict: the line is reported beside a target, not judged.
    """
    if ratio is None and reference:
        ratio = ours / reference
    ratio_text = f"{ratio:6.3f}x" if ratio is not None else "      -"
    reference_text = f"{reference:9.3f} {unit}" if reference is not None else " " * 9 + "-" + " " * len(unit)
    verdict = "" if passed is None else "PASS" if passed else "MISS"
    line = (
        f"{name:22s} {labels[0]} {ours:9.3f} {unit}  {labels[1]} {reference_text}  ratio {ratio_text}  "
        f"target {target:16s} {verdict}"
    )
    print(line.rstrip(), flush=True)


def run_module(module: str, *arguments: str, environment: dict[str, str] | None = None) -> dict:
    """Run `python -m benchmarks.<module> <arguments>` in a fresh process at the repository root; return its JSON."""
    command = [sys.executable, "-m", f"benchmarks.{module}", *arguments]
    # Children inherit this process's environment, where importing helpers has set MKL_CBWR unless the user had.
    env = {**os.environ, **(environment or {})}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def study_way(label: str, settings: Settings, *arguments: str, environment: dict[str, str] | None = None) -> Way:
    """The whole study run once by benchmarks.study_once with these arguments and environment."""
    epochs = ("--epochs", str(settings.epochs))
    return Way(label, lambda: run_module("study_once", *epochs, *arguments, environment=environment))


def training_way(label: str, settings: Settings, config_index: int, mkl_cbwr: str) -> Way:
    """One training of CONFIGS[config_index] run once by benchmarks.train_once, with MKL_CBWR set to `mkl_cbwr`."""
    arguments = ("--config", str(config_index), "--epochs", str(settings.epochs))
    return Way(label, lambda: run_module("train_once", *arguments, environment={"MKL_CBWR": mkl_cbwr}))


def time_pairs(first: Way, second: Way, repeats: int) -> list[tuple[dict, dict]]:
    """Run the two ways alternately, `repeats` pairs, and print each pair as it ends: back to back, the two runs of a
    pair see nearly the same machine load, so their ratio is steadier than either time."""
    pairs = []
    for index in range(1, repeats + 1):
        pair = first.run(), second.run()
        first_seconds, second_seconds = (measured["seconds"] for measured in pair)
        print(
            f"{SIDE} pair {index}: {first.label} {first_seconds:.3f} s, {second.label} {second_seconds:.3f} s, "
            f"ratio {first_seconds / second_seconds:.3f}",
            flush=True,
        )
        pairs.append(pair)
    return pairs


def report_pairs(
    name: str,
    first: Way,
    second: Way,
    pairs: list[tuple[dict, dict]],
    target: str,
    meets: Callable[[float], bool] | None,
) -> None:
    """The line of a comparison between processes: each way's median time, the median of the per-pair ratios (judged
    by `meets`, unless None), and what each way's first child reported of its numerics."""
    ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in pairs)
    first_median, second_median = (statistics.median(pair[side]["seconds"] for pair in pairs) for side in (0, 1))
    passed = meets(ratio) if meets is not None else None
    report(name, first_median, second_median, target, passed, ratio=ratio, labels=(first.label, second.label))
    print(f"{SIDE} (median of {len(pairs)} per-pair ratios; {first.label}: {how_it_ran(pairs[0][0])}; ", end="")
    print(f"{second.label}: {how_it_ran(pairs[0][1])})", flush=True)


def how_it_ran(measured: dict) -> str:
    """How a child ran, from its JSON: MKL's mode, its usable cores when it says, and its main process's threads."""
    cores = f", {counted(measured['cores'], 'core')}" if "cores" in measured else ""
    return f"{measured['numerics_mode']}{cores}, {counted(measured['threads'], 'thread')} in the main process"


def counted(count: int, noun: str) -> str:
    """'1 core', '2 cores': a count with its noun, plural when it is not one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- The trainings the in-process targets time -----------------------------------------------------------------------


def bare_loop(data: h.Cifar2, config: dict, n_epochs: int) -> None:
    """The reference training: a plain PyTorch loop over preloaded tensors, same model, batches and steps."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    optimizer = torch.optim.SGD(model.parameters(), **h.sgd_settings(config))
    loss_fn = nn.CrossEntropyLoss()
    x, y = data.train.tensors
    generator = torch.Generator().manual_seed(h.SEED)
    for _epoch in range(n_epochs):
        order = torch.randperm(len(y), generator=generator)
        shuffled_x, shuffled_y = x[order], y[order]
        for start in range(0, len(y), h.BATCH_SIZE):
            optimizer.zero_grad()
            batch = slice(start, start + h.BATCH_SIZE)
            loss = loss_fn(model(shuffled_x[batch]), shuffled_y[batch])
            loss.backward()
            optimizer.step()


def ours_train(data: h.Cifar2, config: dict, n_epochs: int) -> None:
    """One run of helpers.train with torch.optim.SGD."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    optimizer = torch.optim.SGD(model.parameters(), **h.sgd_settings(config))
    h.train(n_epochs, optimizer, model, nn.CrossEntropyLoss(), h.make_loader(data.train, h.BATCH_SIZE))


def ours_manual(data: h.Cifar2, config: dict, n_epochs: int) -> None:
    """One run of helpers.train_manual_update."""
    torch.manual_seed(h.SEED)
    model = h.MyMLP()
    loader = h.make_loader(data.train, h.BATCH_SIZE)
    h.train_manual_update(n_epochs, model, nn.CrossEntropyLoss(), loader, **h.sgd_settings(config))


# --- The targets timed in this process -------------------------------------------------------------------------------


def bench_data(data: h.Cifar2, settings: Settings) -> None:
    """Our cold preparation plus the epochs' batches vs an ImageFolder + transforms + DataLoader pipeline."""
    from torchvision import datasets, transforms

    root = Path(os.environ.get("CIFAR10_ROOT", "data"))
    if not (root / "train").is_dir():
        print("data: needs CIFAR10_ROOT pointing at a PNG tree; skipped")
        return

    def ours() -> None:
        """A cold preparation, then every epoch's batches."""
        prepared = h.load_cifar2(root, cache_dir=None)
        loader = h.make_loader(prepared.train, h.BATCH_SIZE)
        for _epoch in range(settings.epochs):
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
        datasets.ImageFolder(root / "train", transform=transform), batch_size=h.BATCH_SIZE, shuffle=True
    )
    # The textbook pipeline decodes every image every epoch, the same work each time: two epochs stand for all.
    sampled_epochs = min(2, settings.epochs)

    def textbook() -> None:
        """The sampled epochs of the textbook pipeline's batches."""
        for _epoch in range(sampled_epochs):
            for _batch in textbook_loader:
                pass

    ours_time, textbook_time = side_by_side(ours, textbook, settings.repeats)
    textbook_time *= settings.epochs / sampled_epochs
    name = f"data ({settings.epochs} epochs)"
    report(name, ours_time, textbook_time, "ratio <= 0.1", ours_time <= 0.1 * textbook_time)

    cold = median_seconds(lambda: h.load_cifar2(root, cache_dir=None), settings.repeats)
    report("data: cold prepare", cold, None, "< 3 s", cold < 3)
    with tempfile.TemporaryDirectory() as cache_dir:
        h.load_cifar2(root, cache_dir=cache_dir)
        cached = median_seconds(lambda: h.load_cifar2(root, cache_dir=cache_dir), settings.repeats)
    report("data: cached reload", cached, None, "< 0.3 s", cached < 0.3)


def bench_train(data: h.Cifar2, settings: Settings) -> None:
    """helpers.train vs the bare loop."""
    config, epochs = h.CONFIGS[3], settings.epochs
    ours, reference = side_by_side(
        lambda: ours_train(data, config, epochs), lambda: bare_loop(data, config, epochs), settings.repeats
    )
    report(f"train ({epochs} epochs)", ours, reference, "ratio <= 1.25", ours <= 1.25 * reference)


def bench_manual(data: h.Cifar2, settings: Settings) -> None:
    """train_manual_update vs train."""
    config, epochs = h.CONFIGS[3], settings.epochs
    ours, reference = side_by_side(
        lambda: ours_manual(data, config, epochs), lambda: ours_train(data, config, epochs), settings.repeats
    )
    report("manual vs train", ours, reference, "ratio <= 1.1", ours <= 1.1 * reference)


def bench_backprop(data: h.Cifar2, settings: Settings) -> None:
    """backpropagation vs autograd's backward() on [768, 128, 32, 2], batch 256, float32, same forward pass."""
    torch.manual_seed(h.SEED)
    model = h.MyNet([768, 128, 32, 2])
    x = data.train.tensors[0][:256]
    y_true = nn.functional.one_hot(data.train.tensors[1][:256], 2).float()
    steps = 200

    def timed(backward: Callable[[torch.Tensor], None]) -> float:
        """Total time of `steps` backward passes, each after a fresh forward pass that is not timed."""
        total = 0.0
        for _ in range(steps):
            model.zero_grad()
            y_pred = model(x)
            start = time.perf_counter()
            backward(y_pred)
            total += time.perf_counter() - start
        return total

    def manual(y_pred: torch.Tensor) -> None:
        """The hand-written backward pass."""
        h.backpropagation(model, y_true, y_pred)

    def autograd(y_pred: torch.Tensor) -> None:
        """Autograd's backward pass of the same loss."""
        h.sum_squared_error(y_true, y_pred).backward()

    pairs = [(timed(manual), timed(autograd)) for _ in range(settings.repeats)]
    ours = statistics.median(p[0] for p in pairs) / steps * 1e3
    reference = statistics.median(p[1] for p in pairs) / steps * 1e3
    report("backprop (per batch)", ours, reference, "ratio <= 1.5", ours <= 1.5 * reference, unit="ms")


def bench_study(data: h.Cifar2, settings: Settings) -> None:
    """The five configurations with both trainers, evaluations included, in this process vs ten bare loops."""
    trainings = h.study_trainings(n_epochs=settings.epochs)[:10]  # every configuration with both trainers at SEED

    def study() -> None:
        """The ten trainings through run_trainings in this process, their progress lines kept off the report."""
        with contextlib.redirect_stdout(io.StringIO()):
            h.run_trainings(trainings, data, workers=1)

    def ten_bare_loops() -> None:
        """A bare loop per training, with its configuration."""
        for training in trainings:
            bare_loop(data, training.config, settings.epochs)

    ours, reference = side_by_side(study, ten_bare_loops, max(1, settings.repeats // 2))
    report(f"study ({len(trainings)} trainings)", ours, reference, "ratio <= 1.3", ours <= 1.3 * reference)


# --- The targets timed in fresh processes ----------------------------------------------------------------------------


def bench_pool(data: h.Cifar2, settings: Settings) -> None:
    """The whole study with the pool (default workers) vs the same study in one process (workers=1)."""
    n_trainings = len(h.study_trainings())
    print(
        f"pool: the whole study, {n_trainings} trainings of {settings.epochs} epochs, with the default workers "
        f"(one per usable core, at most {h.MAX_WORKERS}: {len(usable_cores())} cores here) vs in one process; "
        "each run in a fresh process",
        flush=True,
    )
    pool, one_process = study_way("pool", settings), study_way("1 process", settings, "--workers", "1")
    pairs = time_pairs(pool, one_process, settings.repeats)
    report_pairs(f"pool ({n_trainings} trainings)", pool, one_process, pairs, "ratio <= 0.8", lambda r: r <= 0.8)


def bench_scaling(data: h.Cifar2, settings: Settings) -> None:
    """The study with the default workers on one core vs on two: how much the second core buys."""
    cores = usable_cores()
    if not hasattr(os, "sched_setaffinity") or len(cores) < 2:
        print("scaling: needs two usable cores and Linux's sched_setaffinity; skipped")
        return
    # The default workers on each: one core runs every training in its one process with one thread; two cores run a
    # pool of two one-thread workers. The cores are set in the child before torch loads, which fixes its threads.
    print(
        f"scaling: the whole study with the default workers on core {cores[0]} vs on cores {cores[0]},{cores[1]}; "
        "each run in a fresh process",
        flush=True,
    )
    one_core = study_way("1 core", settings, "--cpus", str(cores[0]))
    two_cores = study_way("2 cores", settings, "--cpus", f"{cores[0]},{cores[1]}")
    pairs = time_pairs(one_core, two_cores, settings.repeats)
    report_pairs("scaling 1 vs 2 cores", one_core, two_cores, pairs, "ratio >= 1.6", lambda r: r >= 1.6)


def bench_price(data: h.Cifar2, settings: Settings) -> None:
    """The pinned study with the pool vs the study as it ran before the pinning: MKL's fastest mode, one process.

    Beside it, unjudged: one training of CONFIGS[4] in the pinned mode vs the fastest, one process each.
    """
    print(
        f"price: the whole study pinned ({PINNED_MKL_MODE}) with the pool vs in MKL's fastest mode (AUTO) in one "
        "process with torch's own threads; each run in a fresh process",
        flush=True,
    )
    pinned = study_way("pinned pool", settings, environment={"MKL_CBWR": PINNED_MKL_MODE})
    fastest = study_way("AUTO 1 process", settings, "--workers", "1", environment={"MKL_CBWR": "AUTO"})
    pairs = time_pairs(pinned, fastest, settings.repeats)
    report_pairs("price of the pinning", pinned, fastest, pairs, "ratio <= 1.1", lambda r: r <= 1.1)

    print(f"price per training: one training of {h.CONFIGS[4]['name']}, {settings.epochs} epochs, pinned vs AUTO")
    compatible = training_way(PINNED_MKL_MODE, settings, 4, PINNED_MKL_MODE)
    auto = training_way("AUTO", settings, 4, "AUTO")
    pairs = time_pairs(compatible, auto, settings.repeats)
    report_pairs("price per training", compatible, auto, pairs, "none", None)


def bench_pinning(data: h.Cifar2, settings: Settings) -> None:
    """One training of CONFIGS[3] in the default, pinned mode vs the fastest mode, each in a fresh process."""
    pinned = training_way("ours", settings, 3, PINNED_MKL_MODE)
    # The opt-out: MKL picks its fastest kernels and helpers leaves torch's thread count alone.
    fastest = training_way("reference", settings, 3, "AUTO")
    print(f"pinning: one training of {h.CONFIGS[3]['name']}, {settings.epochs} epochs, pinned (ours) vs AUTO")
    pairs = time_pairs(pinned, fastest, settings.repeats)
    report_pairs("pinned vs fastest", pinned, fastest, pairs, "ratio <= 1.6", lambda r: r <= 1.6)


# --- Memory ----------------------------------------------------------------------------------------------------------


def bench_memory(data: h.Cifar2, settings: Settings) -> None:
    """Peak resident memory of one study with the pool: its main process's, and the sum over all its processes."""
    # Each process's peak is the kernel's high-water mark of its own resident memory (VmHWM), read by the process
    # itself when its Python work ends (benchmarks/study_once.py says why, and what that leaves out). Resident memory
    # counts the shared pages of torch's libraries in every process that maps them, so the sum of the peaks bounds
    # from above what the run held at any one moment.
    print(f"memory: one whole study of {settings.epochs}-epoch trainings with the pool, in a fresh process", flush=True)
    measured = run_module("study_once", "--epochs", str(settings.epochs))
    if measured["main_peak_kib"] is None:
        print("memory: needs Linux's /proc; skipped")
        return
    main_peak = measured["main_peak_kib"] / 1024
    worker_peaks = [peak / 1024 for peak in measured["worker_peaks_kib"]]
    other_peaks = [peak / 1024 for peak in measured["other_peaks_kib"]]
    report("memory: main process", main_peak, None, "< 1024 MiB", main_peak < 1024, unit="MiB")
    total = main_peak + sum(worker_peaks) + sum(other_peaks)
    report("memory: all processes", total, None, "none (reported)", None, unit="MiB")
    workers_text = ", ".join(f"{peak:.0f}" for peak in worker_peaks) or "-"
    others_text = ", ".join(f"{peak:.0f}" for peak in other_peaks) or "-"
    print(
        f"{SIDE} (main {main_peak:.0f} MiB + {len(worker_peaks)} workers {workers_text} MiB + "
        f"the resource tracker and other children {others_text} MiB)",
        flush=True,
    )


# --- The notebook ----------------------------------------------------------------------------------------------------


def bench_notebook(data: h.Cifar2, settings: Settings) -> None:
    """A full project1.ipynb Run All in a child process vs as many bare loops as the study has trainings; the kernel's
    peak memory.

    Run All is timed as a user sees it, in a started kernel: from the first cell's start to the last cell's
    reply, as the kernel's own timing records say. The child's whole life, kernel start and stop included, is
    printed beside it. The notebook trains with its own epochs, helpers.EPOCHS, whatever --epochs says, and so do
    the bare loops it is compared with.
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
    configs = [training.config for training in h.study_trainings()]
    peaks, lives = [], []

    def notebook() -> float:
        """One Run All in a fresh kernel: its time from the kernel's records; its life and peak are kept aside."""
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
        lives.append(time.perf_counter() - start)
        if completed.returncode != 0:
            raise RuntimeError(f"the notebook failed to run:\n{completed.stderr[-2000:]}")
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        peaks.append(measured["peak_kib"] / 1024)  # Linux reports ru_maxrss in KiB
        return measured["run_all"]

    def bare_loops() -> float:
        """A bare loop per training of the study, at the notebook's epochs."""
        return median_seconds(lambda: [bare_loop(data, config, h.EPOCHS) for config in configs], 1)

    # Each pair runs back to back, so a ratio within a pair sees one machine load; the median ratio is reported.
    pairs = [(notebook(), bare_loops()) for _ in range(max(1, settings.repeats // 2))]
    ratios = sorted(ours / reference for ours, reference in pairs)
    ours, reference = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    ratio = statistics.median(ratios)
    report(f"notebook Run All ({len(configs)})", ours, reference, "ratio <= 1.3", ratio <= 1.3, ratio=ratio)
    print(f"{SIDE} (ratio per pair {', '.join(f'{r:.3f}' for r in ratios)}; median {ratio:.3f})")
    print(f"{SIDE} (the child process lived {statistics.median(lives):.1f} s, kernel start and stop included)")
    # The kernel's own peak: processes the notebook starts, a pool's workers say, are not in it (see `memory`).
    peak_mib = max(peaks)
    report("memory: project1 kernel", peak_mib, None, "< 1024 MiB", peak_mib < 1024, unit="MiB")


BENCHMARKS: dict[str, Callable[[h.Cifar2, Settings], None]] = {
    "data": bench_data,
    "train": bench_train,
    "manual": bench_manual,
    "backprop": bench_backprop,
    "study": bench_study,
    "pool": bench_pool,
    "scaling": bench_scaling,
    "price": bench_price,
    "pinning": bench_pinning,
    "memory": bench_memory,
    "notebook": bench_notebook,
}


def positive_int(text: str) -> int:
    """A command-line count that must be at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main() -> None:
    """Parse the options, print the machine and run the chosen targets; any one's failure is printed, not raised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these targets")
    parser.add_argument(
        "--repeats", type=positive_int, default=5, help="repeats per measurement (default 5; 1 for a quick look)"
    )
    parser.add_argument(
        "--epochs", type=positive_int, default=h.EPOCHS, help=f"epochs per training (default {h.EPOCHS})"
    )
    options = parser.parse_args()
    os.chdir(REPO)
    settings = Settings(options.repeats, options.epochs)
    print(f"CPU {cpu_model()}, {len(usable_cores())} usable cores of {os.cpu_count()}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads here, MKL mode {h.NUMERICS_MODE} "
        f"(MKL_CBWR={os.environ.get('MKL_CBWR')})"
    )
    print(f"repeats {settings.repeats}, {settings.epochs} epochs per training", flush=True)
    data = h.load_cifar2()
    for name in options.only or BENCHMARKS:
        try:
            BENCHMARKS[name](data, settings)
        except Exception as error:  # one target that cannot run must not hide the lines of the others
            print(f"{name:22s} ERROR {error}", flush=True)


if __name__ == "__main__":
    main()
