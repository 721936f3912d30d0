"""Measure every performance target (README, Performance); print the measurements, ratios and verdicts, and save them.

    python benchmarks/run.py [--only NAME ...] [--repeats N] [--epochs N] [--out FILE]

Run from the repository root with CIFAR10_ROOT set. `--epochs` shortens every training but the notebook's. What was
printed replaces FILE (default benchmarks/results.txt) at the end; an interrupted run writes nothing. Nothing timed is
asserted: a slow machine gives MISS lines, a target that cannot run an ERROR line, and the exit status is 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import operator
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
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
# A target is printed as written: 'ratio <= 1.5' judges ours / reference, '< 3 s' judges ours, and one that matches
# neither ('none (reported)') is not judged. So each threshold is written once.
TARGET = re.compile(r"(ratio )?(<|<=|>=) ([\d.]+)")
COMPARISONS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}
Way = Callable[[], dict]  # runs one side of a comparison once: a dict with its "seconds", from a child its numerics


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module reports, else 'unknown CPU'."""
    cpuinfo = Path("/proc/cpuinfo")
    found = re.search(r"^model name\s*:(.*)$", cpuinfo.read_text(), re.MULTILINE) if cpuinfo.exists() else None
    return found[1].strip() if found else platform.processor() or "unknown CPU"


def usable_cores() -> list[int]:
    """The cores this process may run on, as study.run_trainings counts them (every core where the OS cannot say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock time of one call."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def side_by_side(
    ours: Callable, reference: Callable, repeats: int, measure: Callable[[Callable], float] = seconds
) -> tuple[float, float]:
    """Medians of both measurements, taken alternately so that both see the same machine load."""
    pairs = [(measure(ours), measure(reference)) for _ in range(repeats)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def report(
    name: str,
    ours: float,
    reference: float | None,
    target: str,
    *,
    unit: str = "s",
    ratio: float | None = None,
    labels: tuple[str, str] = ("ours", "reference"),
) -> None:
    """One line per target: both values, the ratio (ours / reference unless given), the target and the verdict."""
    if ratio is None and reference:
        ratio = ours / reference
    ratio_text = f"{ratio:6.3f}x" if ratio is not None else "      -"
    reference_text = f"{reference:9.3f} {unit}" if reference is not None else " " * 9 + "-" + " " * len(unit)
    judged = TARGET.match(target)
    passed = judged and COMPARISONS[judged[2]](ratio if judged[1] else ours, float(judged[3]))
    verdict = "" if judged is None else "PASS" if passed else "MISS"
    line = (
        f"{name:22s} {labels[0]} {ours:9.3f} {unit}  {labels[1]} {reference_text}  ratio {ratio_text}  "
        f"target {target:16s} {verdict}"
    )
    print(line.rstrip(), flush=True)


def once(epochs: int, *arguments: str, mkl_cbwr: str | None = None) -> Way:
    """The whole study, or one training ("--config", INDEX), run by benchmarks.once in a fresh process at the
    repository root, at these epochs, with MKL_CBWR set unless None: its JSON is what it returns."""
    command = [sys.executable, "-m", "benchmarks.once", "--epochs", str(epochs), *arguments]
    # Children inherit this process's environment, where importing helpers has set MKL_CBWR unless the user had.
    env = {**os.environ, **({"MKL_CBWR": mkl_cbwr} if mkl_cbwr else {})}

    def run() -> dict:
        completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command[1:])} failed:\n{completed.stderr[-2000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])

    return run


def compare(heading: str, name: str, ways: dict[str, Way], repeats: int, target: str) -> None:
    """Print the heading, each of `repeats` pairs of the two ways (label: run) back to back, so under nearly the same
    load, then their medians, the median per-pair ratio (steadier than either time) and how the first children ran."""
    print(heading, flush=True)
    (first, second), pairs = ways, []
    for index in range(1, repeats + 1):
        pair = tuple(run() for run in ways.values())
        times = [measured["seconds"] for measured in pair]
        ratio = f"ratio {times[0] / times[1]:.3f}"
        print(f"{SIDE} pair {index}: {first} {times[0]:.3f} s, {second} {times[1]:.3f} s, {ratio}")
        pairs.append(pair)
    ratio = statistics.median(a["seconds"] / b["seconds"] for a, b in pairs)
    medians = [statistics.median(pair[side]["seconds"] for pair in pairs) for side in (0, 1)]
    report(name, *medians, target, ratio=ratio, labels=(first, second))
    if all("numerics_mode" in measured for measured in pairs[0]):
        print(f"{SIDE} (median of {len(pairs)} per-pair ratios; {first}: {how_it_ran(pairs[0][0])}; ", end="")
        print(f"{second}: {how_it_ran(pairs[0][1])})", flush=True)


def how_it_ran(measured: dict) -> str:
    """How a child ran, from its JSON: MKL's mode, its usable cores when it says, and its main process's threads."""
    cores, threads = measured.get("cores"), measured["threads"]
    cores_text = "" if cores is None else f", {cores} core{'s' * (cores != 1)}"
    return f"{measured['numerics_mode']}{cores_text}, {threads} thread{'s' * (threads != 1)} in the main process"


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


def one_training(data: h.Cifar2, config: dict, n_epochs: int, trainer: str) -> None:
    """One run of helpers.train with torch.optim.SGD ('sgd'), helpers.train_manual_update ('manual') or bare_loop."""
    if trainer == "bare":
        return bare_loop(data, config, n_epochs)
    torch.manual_seed(h.SEED)
    model, loss_fn, settings = h.MyMLP(), nn.CrossEntropyLoss(), h.sgd_settings(config)
    loader = h.make_loader(data.train, h.BATCH_SIZE)
    if trainer == "sgd":
        h.train(n_epochs, torch.optim.SGD(model.parameters(), **settings), model, loss_fn, loader)
    else:
        h.train_manual_update(n_epochs, model, loss_fn, loader, **settings)


def bench_data(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """Our cold preparation plus the epochs' batches vs ImageFolder + transforms + DataLoader; the load times."""
    from torchvision import datasets, transforms

    root = Path(os.environ.get("CIFAR10_ROOT", "data"))
    if not (root / "train").is_dir():
        print("data: needs CIFAR10_ROOT pointing at a PNG tree; skipped")
        return

    def batches(loader: torch.utils.data.DataLoader, n_epochs: int) -> None:
        for _epoch in range(n_epochs):
            for _batch in loader:
                pass

    normalize = transforms.Normalize(data.mean.tolist(), data.std.tolist())
    transform = transforms.Compose([transforms.Resize(16, antialias=True), transforms.ToTensor(), normalize])
    textbook = datasets.ImageFolder(root / "train", transform=transform)
    textbook_loader = torch.utils.data.DataLoader(textbook, batch_size=h.BATCH_SIZE, shuffle=True)
    # The textbook pipeline decodes every image every epoch, the same work each time: two epochs stand for all.
    sampled = min(2, epochs)
    ours, reference = side_by_side(
        lambda: batches(h.make_loader(h.load_cifar2(root, cache_dir=None).train, h.BATCH_SIZE), epochs),
        lambda: batches(textbook_loader, sampled),
        repeats,
    )
    report(f"data ({epochs} epochs)", ours, reference * epochs / sampled, "ratio <= 0.1")
    cold = statistics.median(seconds(lambda: h.load_cifar2(root, cache_dir=None)) for _ in range(repeats))
    report("data: cold prepare", cold, None, "< 3 s")
    with tempfile.TemporaryDirectory() as cache_dir:
        h.load_cifar2(root, cache_dir=cache_dir)
        cached = statistics.median(seconds(lambda: h.load_cifar2(root, cache_dir=cache_dir)) for _ in range(repeats))
    report("data: cached reload", cached, None, "< 0.3 s")


def bench_trainer(name: str, trainers: tuple[str, str], target: str, data: h.Cifar2, repeats: int, epochs: int) -> None:
    """One trainer vs another (see one_training), each training CONFIGS[3], timed alternately in this process."""
    ours, reference = (partial(one_training, data, h.CONFIGS[3], epochs, trainer) for trainer in trainers)
    report(name.format(epochs=epochs), *side_by_side(ours, reference, repeats), target)


def bench_backprop(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """backpropagation vs autograd's backward() on [768, 128, 32, 2], batch 256, float32, same forward pass."""
    torch.manual_seed(h.SEED)
    model, steps = h.MyNet([768, 128, 32, 2]), 200
    x = data.train.tensors[0][:256]
    y_true = nn.functional.one_hot(data.train.tensors[1][:256], 2).float()

    def milliseconds(backward: Callable[[torch.Tensor], object]) -> float:
        """Mean time of `steps` backward passes, each after a fresh forward pass that is not timed, in ms."""
        total = 0.0
        for _ in range(steps):
            model.zero_grad()
            y_pred = model(x)
            start = time.perf_counter()
            backward(y_pred)
            total += time.perf_counter() - start
        return total / steps * 1e3

    manual = partial(h.backpropagation, model, y_true)
    medians = side_by_side(manual, lambda y_pred: h.sum_squared_error(y_true, y_pred).backward(), repeats, milliseconds)
    report("backprop (per batch)", *medians, "ratio <= 1.5", unit="ms")


def bench_study(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The five configurations with both trainers, evaluations included, in this process vs ten bare loops."""
    trainings = study_trainings(n_epochs=epochs)[:10]  # every configuration with both trainers at SEED

    def study() -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines would fill the report
            run_trainings(trainings, data, workers=1)

    bare_loops = [partial(bare_loop, data, training.config, epochs) for training in trainings]
    ours, reference = side_by_side(study, lambda: [loop() for loop in bare_loops], max(1, repeats // 2))
    report(f"study ({len(trainings)} trainings)", ours, reference, "ratio <= 1.3")


def bench_pool(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The whole study with the pool (default workers) vs the same study in one process (workers=1)."""
    n_trainings = len(study_trainings())
    heading = (
        f"pool: the whole study, {n_trainings} trainings of {epochs} epochs, with the default workers "
        f"(one per usable core, at most {MAX_WORKERS}: {len(usable_cores())} cores here) vs in one process; "
        "each run in a fresh process"
    )
    ways = {"pool": once(epochs), "1 process": once(epochs, "--workers", "1")}
    compare(heading, f"pool ({n_trainings} trainings)", ways, repeats, "ratio <= 0.8")


def bench_scaling(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The study with the default workers on one core vs on two: how much the second core buys."""
    cores = usable_cores()
    if not hasattr(os, "sched_setaffinity") or len(cores) < 2:
        print("scaling: needs two usable cores and Linux's sched_setaffinity; skipped")
        return
    # The default workers on each: one core runs every training in its one process with one thread; two cores run a
    # pool of two one-thread workers. The cores are set in the child before torch loads, which fixes its threads.
    both = f"{cores[0]},{cores[1]}"
    heading = f"scaling: the whole study with the default workers on core {cores[0]} vs on cores {both}; each run in a "
    ways = {"1 core": once(epochs, "--cpus", str(cores[0])), "2 cores": once(epochs, "--cpus", both)}
    compare(heading + "fresh process", "scaling 1 vs 2 cores", ways, repeats, "ratio >= 1.6")


def bench_price(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The pinned study with the pool vs in MKL's fastest mode in one process; beside it, one training in each mode."""
    heading = (
        f"price: the whole study pinned ({PINNED_MKL_MODE}) with the pool vs in MKL's fastest mode (AUTO) in one "
        "process with torch's own threads; each run in a fresh process"
    )
    pinned = once(epochs, mkl_cbwr=PINNED_MKL_MODE)
    ways = {"pinned pool": pinned, "AUTO 1 process": once(epochs, "--workers", "1", mkl_cbwr="AUTO")}
    compare(heading, "price of the pinning", ways, repeats, "ratio <= 1.1")
    pinned_vs_auto("price per training", 4, (PINNED_MKL_MODE, "AUTO"), "none", data, repeats, epochs)


def pinned_vs_auto(
    name: str, index: int, labels: tuple[str, str], target: str, data: h.Cifar2, repeats: int, epochs: int
) -> None:
    """One training of CONFIGS[index] pinned vs in MKL's fastest mode (AUTO, with torch's own threads), each alone."""
    heading = f"{name}: one training of {h.CONFIGS[index]['name']}, {epochs} epochs, pinned vs AUTO"
    modes = dict(zip(labels, (PINNED_MKL_MODE, "AUTO"), strict=True))
    ways = {label: once(epochs, "--config", str(index), mkl_cbwr=mode) for label, mode in modes.items()}
    compare(heading, name, ways, repeats, target)


def bench_memory(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """Peak resident memory of one study with the pool: its main process's, and the sum over all its processes."""
    # Each process reads its own peak (benchmarks/once.py says when). Resident memory counts torch's shared pages in
    # every process that maps them, so the sum of the peaks bounds from above what the run held at any one moment.
    print(f"memory: one whole study of {epochs}-epoch trainings with the pool, in a fresh process", flush=True)
    measured = once(epochs)()
    if measured["main_peak_kib"] is None:
        print("memory: needs Linux's /proc; skipped")
        return
    main_peak = measured["main_peak_kib"] / 1024
    workers, others = ([kib / 1024 for kib in measured[f"{key}_peaks_kib"]] for key in ("worker", "other"))
    report("memory: main process", main_peak, None, "< 1024 MiB", unit="MiB")
    report("memory: all processes", main_peak + sum(workers) + sum(others), None, "none (reported)", unit="MiB")
    workers_text, others_text = (", ".join(f"{peak:.0f}" for peak in peaks) or "-" for peaks in (workers, others))
    tracker = f"the resource tracker and other children {others_text} MiB"
    print(f"{SIDE} (main {main_peak:.0f} MiB + {len(workers)} workers {workers_text} MiB + {tracker})", flush=True)


def bench_notebook(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """A project1.ipynb Run All in a child process vs as many bare loops as it has trainings; the kernel's peak memory.

    Run All is timed as a user sees it, from the first cell's start to the last cell's reply in a started kernel, by
    the kernel's own records; the child's whole life is printed beside it. Epochs: helpers.EPOCHS, whatever --epochs.
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
    # Before the study, the notebook trains Model 5 with both trainers in its own process (its section 3).
    configs = [h.CONFIGS[4]] * 2 + [training.config for training in study_trainings()]
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

    heading = f"notebook: project1.ipynb Run All in a fresh kernel vs {len(configs)} bare loops of {h.EPOCHS} epochs"
    loops = [partial(bare_loop, data, config, h.EPOCHS) for config in configs]
    ways = {"Run All": notebook, "bare loops": lambda: {"seconds": seconds(lambda: [loop() for loop in loops])}}
    compare(heading, f"notebook Run All ({len(configs)})", ways, max(1, repeats // 2), "ratio <= 1.3")
    print(f"{SIDE} (the child process lived {statistics.median(lives):.1f} s, kernel start and stop included)")
    # The kernel's own peak: processes the notebook starts, a pool's workers say, are not in it (see `memory`).
    report("memory: project1 kernel", max(peaks), None, "< 1024 MiB", unit="MiB")


BENCHMARKS: dict[str, Callable[[h.Cifar2, int, int], None]] = {
    "data": bench_data,
    "train": partial(bench_trainer, "train ({epochs} epochs)", ("sgd", "bare"), "ratio <= 1.25"),
    "manual": partial(bench_trainer, "manual vs train", ("manual", "sgd"), "ratio <= 1.1"),
    "backprop": bench_backprop,
    "study": bench_study,
    "pool": bench_pool,
    "scaling": bench_scaling,
    "price": bench_price,
    "pinning": partial(pinned_vs_auto, "pinned vs fastest", 3, ("ours", "reference"), "ratio <= 1.6"),
    "memory": bench_memory,
    "notebook": bench_notebook,
}


class Tee(io.StringIO):
    """Keeps everything written to it, and writes it on to the terminal as it comes."""

    def write(self, text: str) -> int:
        """Write the text on to the terminal at once, and keep it."""
        sys.__stdout__.write(text)
        sys.__stdout__.flush()
        return super().write(text)


def main() -> None:
    """Parse the options, run the chosen targets, printing any one's failure, then write what was printed to FILE."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these targets")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement (default 5)")
    parser.add_argument("--epochs", type=int, default=h.EPOCHS, help=f"epochs (default {h.EPOCHS})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output file (default benchmarks/results.txt)")
    options = parser.parse_args()
    if min(options.repeats, options.epochs) < 1:
        parser.error("--repeats and --epochs must be at least 1")
    out = options.out.resolve()  # before the change of folder, so that a relative path is the caller's
    os.chdir(REPO)
    targets = options.only or list(BENCHMARKS)
    with contextlib.redirect_stdout(Tee()) as printed:
        print(f"CPU {cpu_model()}, {len(usable_cores())} usable cores of {os.cpu_count()}")
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads here, MKL mode {h.NUMERICS_MODE} "
            f"(MKL_CBWR={os.environ.get('MKL_CBWR')})"
        )
        print(f"command: {shlex.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}")
        print(f"targets: {', '.join(targets)} (of {', '.join(BENCHMARKS)})")
        print(f"repeats {options.repeats}, {options.epochs} epochs per training", flush=True)
        data = h.load_cifar2()
        for name in targets:
            try:
                BENCHMARKS[name](data, options.repeats, options.epochs)
            except Exception as error:  # one target that cannot run must not hide the lines of the others
                print(f"{name:22s} ERROR {error}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(printed.getvalue(), encoding="utf-8")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")


if __name__ == "__main__":
    main()
