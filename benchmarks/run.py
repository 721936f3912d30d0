"""Measure every performance target (README, Performance) side by side, print the measurements and their ratios, and
write what it printed to benchmarks/results.txt.

    python benchmarks/run.py [--only NAME ...] [--repeats N] [--epochs N] [--out FILE]

Run from the repository root, with CIFAR10_ROOT pointing at the data. It prints first the machine (CPU model, usable
cores, torch's version and threads, MKL's numerics mode), the command and the targets it runs. Each target times the
project's way and a reference way alternately, `--repeats` times, and prints the median of each, their ratio and the
target, PASS or MISS. The targets that compare processes (pool, scaling, price, pinning, notebook) run every
measurement in a fresh process (benchmarks/study_once.py for the whole study, benchmarks/train_once.py for one
training, project1.ipynb in a fresh kernel), print every pair and judge the median of the per-pair ratios. `memory`
and `notebook` also print peak resident memory. `--epochs` shortens every training but the notebook's.

At the end, everything printed replaces the content of FILE (default benchmarks/results.txt, committed): the file
holds one run, its command and its targets; an interrupted run writes nothing. Nothing timed is asserted and the exit
status is 0: a slow machine gives MISS lines, and a target that cannot run prints an ERROR line.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shlex
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
from study import MAX_WORKERS, run_trainings, study_trainings  # noqa: E402

SIDE = " " * 22  # the indent of the lines that explain the line above them, under the targets' names
RESULTS = REPO / "benchmarks" / "results.txt"


@dataclass(frozen=True)
class Settings:
    """What every target is given: the repeats per measurement and the epochs per training."""

    repeats: int
    epochs: int


@dataclass(frozen=True)
class Way:
    """One side of a comparison: a short label and how to run it once (returns a dict with its "seconds", and, from a
    child process, its numerics)."""

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
    """The cores this process may run on, as study.run_trainings counts them (every core where the OS cannot say)."""
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
    pairs = [(median_seconds(ours, 1), median_seconds(reference, 1)) for _ in range(repeats)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


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


def compare(
    heading: str, name: str, ways: tuple[Way, Way], repeats: int, target: str, meets: Callable[[float], bool] | None
) -> None:
    """Print the heading, run the two ways alternately, `repeats` pairs, printing each pair as it ends, then the line
    of the comparison: each way's median time and the median of the per-pair ratios (judged by `meets`, unless None),
    and what each way's first child reported of its numerics. Back to back, the two runs of a pair see nearly the same
    machine load, so their ratio is steadier than either time."""
    print(heading, flush=True)
    first, second = ways
    pairs = []
    for index in range(1, repeats + 1):
        pair = first.run(), second.run()
        seconds = [measured["seconds"] for measured in pair]
        ratio = f"ratio {seconds[0] / seconds[1]:.3f}"
        print(f"{SIDE} pair {index}: {first.label} {seconds[0]:.3f} s, {second.label} {seconds[1]:.3f} s, {ratio}")
        pairs.append(pair)
    ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in pairs)
    medians = [statistics.median(pair[side]["seconds"] for pair in pairs) for side in (0, 1)]
    passed = meets(ratio) if meets is not None else None
    report(name, *medians, target, passed, ratio=ratio, labels=(first.label, second.label))
    if all("numerics_mode" in measured for measured in pairs[0]):
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


def ours_train(data: h.Cifar2, config: dict, n_epochs: int, trainer: str = "sgd") -> None:
    """One run of helpers.train with torch.optim.SGD, or of helpers.train_manual_update ('manual')."""
    torch.manual_seed(h.SEED)
    model, loss_fn, settings = h.MyMLP(), nn.CrossEntropyLoss(), h.sgd_settings(config)
    loader = h.make_loader(data.train, h.BATCH_SIZE)
    if trainer == "sgd":
        h.train(n_epochs, torch.optim.SGD(model.parameters(), **settings), model, loss_fn, loader)
    else:
        h.train_manual_update(n_epochs, model, loss_fn, loader, **settings)


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
        lambda: ours_train(data, config, epochs, "manual"), lambda: ours_train(data, config, epochs), settings.repeats
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
    trainings = study_trainings(n_epochs=settings.epochs)[:10]  # every configuration with both trainers at SEED

    def study() -> None:
        """The ten trainings through run_trainings in this process, their progress lines kept off the report."""
        with contextlib.redirect_stdout(io.StringIO()):
            run_trainings(trainings, data, workers=1)

    def ten_bare_loops() -> None:
        """A bare loop per training, with its configuration."""
        for training in trainings:
            bare_loop(data, training.config, settings.epochs)

    ours, reference = side_by_side(study, ten_bare_loops, max(1, settings.repeats // 2))
    report(f"study ({len(trainings)} trainings)", ours, reference, "ratio <= 1.3", ours <= 1.3 * reference)


# --- The targets timed in fresh processes ----------------------------------------------------------------------------


def bench_pool(data: h.Cifar2, settings: Settings) -> None:
    """The whole study with the pool (default workers) vs the same study in one process (workers=1)."""
    n_trainings = len(study_trainings())
    heading = (
        f"pool: the whole study, {n_trainings} trainings of {settings.epochs} epochs, with the default workers "
        f"(one per usable core, at most {MAX_WORKERS}: {len(usable_cores())} cores here) vs in one process; "
        "each run in a fresh process"
    )
    ways = study_way("pool", settings), study_way("1 process", settings, "--workers", "1")
    compare(heading, f"pool ({n_trainings} trainings)", ways, settings.repeats, "ratio <= 0.8", lambda r: r <= 0.8)


def bench_scaling(data: h.Cifar2, settings: Settings) -> None:
    """The study with the default workers on one core vs on two: how much the second core buys."""
    cores = usable_cores()
    if not hasattr(os, "sched_setaffinity") or len(cores) < 2:
        print("scaling: needs two usable cores and Linux's sched_setaffinity; skipped")
        return
    # The default workers on each: one core runs every training in its one process with one thread; two cores run a
    # pool of two one-thread workers. The cores are set in the child before torch loads, which fixes its threads.
    both = f"{cores[0]},{cores[1]}"
    heading = f"scaling: the whole study with the default workers on core {cores[0]} vs on cores {both}; each run in a "
    heading += "fresh process"
    ways = study_way("1 core", settings, "--cpus", str(cores[0])), study_way("2 cores", settings, "--cpus", both)
    compare(heading, "scaling 1 vs 2 cores", ways, settings.repeats, "ratio >= 1.6", lambda r: r >= 1.6)


def bench_price(data: h.Cifar2, settings: Settings) -> None:
    """The pinned study with the pool vs the study as it ran before the pinning: MKL's fastest mode, one process.

    Beside it, unjudged: one training of CONFIGS[4] in the pinned mode vs the fastest, one process each.
    """
    heading = (
        f"price: the whole study pinned ({PINNED_MKL_MODE}) with the pool vs in MKL's fastest mode (AUTO) in one "
        "process with torch's own threads; each run in a fresh process"
    )
    pinned = study_way("pinned pool", settings, environment={"MKL_CBWR": PINNED_MKL_MODE})
    fastest = study_way("AUTO 1 process", settings, "--workers", "1", environment={"MKL_CBWR": "AUTO"})
    compare(heading, "price of the pinning", (pinned, fastest), settings.repeats, "ratio <= 1.1", lambda r: r <= 1.1)
    pinned_vs_auto("price per training", 4, (PINNED_MKL_MODE, "AUTO"), settings, "none", None)


def bench_pinning(data: h.Cifar2, settings: Settings) -> None:
    """One training of CONFIGS[3] in the default, pinned mode vs the fastest mode, each in a fresh process."""
    pinned_vs_auto("pinned vs fastest", 3, ("ours", "reference"), settings, "ratio <= 1.6", lambda r: r <= 1.6)


def pinned_vs_auto(
    name: str, index: int, labels: tuple[str, str], settings: Settings, target: str, meets: Callable | None
) -> None:
    """One training of CONFIGS[index] in the pinned mode vs in MKL's fastest mode (AUTO, the opt-out, where helpers
    leaves torch's thread count alone), each in a fresh process."""
    heading = f"{name}: one training of {h.CONFIGS[index]['name']}, {settings.epochs} epochs, pinned vs AUTO"
    ways = training_way(labels[0], settings, index, PINNED_MKL_MODE), training_way(labels[1], settings, index, "AUTO")
    compare(heading, name, ways, settings.repeats, target, meets)


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
    others = f"the resource tracker and other children {others_text} MiB"
    print(f"{SIDE} (main {main_peak:.0f} MiB + {len(worker_peaks)} workers {workers_text} MiB + {others})", flush=True)


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
    configs = [training.config for training in study_trainings()]
    peaks, lives = [], []

    def notebook() -> dict:
        """One Run All in a fresh kernel: its time from the kernel's records; its life and peak are kept aside."""
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
        lives.append(time.perf_counter() - start)
        if completed.returncode != 0:
            raise RuntimeError(f"the notebook failed to run:\n{completed.stderr[-2000:]}")
        measured = json.loads(completed.stdout.strip().splitlines()[-1])
        peaks.append(measured["peak_kib"] / 1024)  # Linux reports ru_maxrss in KiB
        return {"seconds": measured["run_all"]}

    def bare_loops() -> dict:
        """A bare loop per training of the study, at the notebook's epochs."""
        return {"seconds": median_seconds(lambda: [bare_loop(data, config, h.EPOCHS) for config in configs], 1)}

    heading = f"notebook: project1.ipynb Run All in a fresh kernel vs {len(configs)} bare loops of {h.EPOCHS} epochs"
    ways, repeats = (Way("Run All", notebook), Way("bare loops", bare_loops)), max(1, settings.repeats // 2)
    compare(heading, f"notebook Run All ({len(configs)})", ways, repeats, "ratio <= 1.3", lambda r: r <= 1.3)
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


class Tee(io.StringIO):
    """Keeps everything written to it, and writes it on to the terminal as it comes."""

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return super().write(text)

    def flush(self) -> None:
        sys.__stdout__.flush()


def main() -> None:
    """Parse the options, print the machine and run the chosen targets, any one's failure printed, not raised; then
    write what was printed to the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these targets")
    parser.add_argument("--repeats", type=positive_int, default=5, help="repeats per measurement (default 5)")
    parser.add_argument("--epochs", type=positive_int, default=h.EPOCHS, help=f"epochs (default {h.EPOCHS})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output file (default benchmarks/results.txt)")
    options = parser.parse_args()
    out = options.out.resolve()  # before the change of folder, so that a relative path is the caller's
    os.chdir(REPO)
    settings, targets = Settings(options.repeats, options.epochs), options.only or list(BENCHMARKS)
    with contextlib.redirect_stdout(Tee()) as printed:
        print(f"CPU {cpu_model()}, {len(usable_cores())} usable cores of {os.cpu_count()}")
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads here, MKL mode {h.NUMERICS_MODE} "
            f"(MKL_CBWR={os.environ.get('MKL_CBWR')})"
        )
        print(f"command: {shlex.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}")
        print(f"targets: {', '.join(targets)} (of {', '.join(BENCHMARKS)})")
        print(f"repeats {settings.repeats}, {settings.epochs} epochs per training", flush=True)
        data = h.load_cifar2()
        for name in targets:
            try:
                BENCHMARKS[name](data, settings)
            except Exception as error:  # one target that cannot run must not hide the lines of the others
                print(f"{name:22s} ERROR {error}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(printed.getvalue(), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


if __name__ == "__main__":
    main()
