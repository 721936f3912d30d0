"""Measure every performance target (README, Performance); print the measurements, ratios and verdicts, and save them.

Run from the repository root with CIFAR10_ROOT set. What was printed replaces --out at the end (none if interrupted);
nothing timed is asserted: a slow machine gives MISS lines, a target that cannot run ERROR, and the exit status is 0."""

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
from study import MAX_WORKERS, run_trainings, study_trainings, usable_cores  # noqa: E402

SIDE = " " * 22  # the indent of the lines that explain the line above them, under the targets' names
RESULTS = REPO / "benchmarks" / "results.txt"
# A target is printed as written: 'ratio <= 1.5' judges ours / reference, '< 3 s' ours, 'none (reported)' nothing.
TARGET = re.compile(r"(ratio )?(<|<=|>=) ([\d.]+)")
COMPARISONS = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}
Way = Callable[[], dict]  # runs one side of a comparison once: a dict with its "seconds", from a child its numerics


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module reports, else 'unknown CPU'."""
    cpuinfo = Path("/proc/cpuinfo")
    found = re.search(r"^model name\s*:(.*)$", cpuinfo.read_text(), re.MULTILINE) if cpuinfo.exists() else None
    return found[1].strip() if found else platform.processor() or "unknown CPU"


def seconds(run: Callable[[], object]) -> float:
    """Wall-clock time of one call."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def side_by_side(ours: Callable, reference: Callable, repeats: int, measure: Callable = seconds) -> tuple[float, float]:
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
    ratio = ours / reference if ratio is None and reference else ratio
    ratio_text = f"{ratio:6.3f}x" if ratio is not None else "      -"
    reference_text = f"{reference:9.3f} {unit}" if reference is not None else " " * 9 + "-" + " " * len(unit)
    judged = TARGET.match(target)
    passed = judged and COMPARISONS[judged[2]](ratio if judged[1] else ours, float(judged[3]))
    verdict = "" if judged is None else "PASS" if passed else "MISS"
    values = f"{labels[0]} {ours:9.3f} {unit}  {labels[1]} {reference_text}  ratio {ratio_text}"
    print(f"{name:22s} {values}  target {target:16s} {verdict}".rstrip(), flush=True)


def once(epochs: int, *arguments: str, mkl_cbwr: str | None = None) -> Way:
    """A way running benchmarks.once (the study, or "--config", INDEX) in a fresh process, MKL_CBWR set unless None."""
    command = [sys.executable, "-m", "benchmarks.once", "--epochs", str(epochs), *arguments]
    # Children inherit this process's environment, where importing helpers has set MKL_CBWR unless the user had.
    env = {**os.environ, **({"MKL_CBWR": mkl_cbwr} if mkl_cbwr else {})}
    return partial(child_json, command, f"{' '.join(command[1:])} failed", env)


def child_json(command: list[str], failure: str, env: dict[str, str] | None = None) -> dict:
    """Run a command at the repository root: the JSON of its last line, or an error that ends with its stderr's end."""
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{failure}:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def compare(heading: str, name: str, ways: dict[str, Way], repeats: int, target: str) -> None:
    """Pairs of the two ways (label: run) back to back, under nearly one load: each, medians, median per-pair ratio."""
    print(heading, flush=True)
    (first, second), pairs = ways, []
    for index in range(1, repeats + 1):
        pairs.append(tuple(run() for run in ways.values()))
        times = [measured["seconds"] for measured in pairs[-1]]
        ratio = f"ratio {times[0] / times[1]:.3f}"
        print(f"{SIDE} pair {index}: {first} {times[0]:.3f} s, {second} {times[1]:.3f} s, {ratio}")
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
    model, loss_fn = h.MyMLP(), nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), **h.sgd_settings(config))
    (x, y), generator = data.train.tensors, torch.Generator().manual_seed(h.SEED)
    for _epoch in range(n_epochs):
        order = torch.randperm(len(y), generator=generator)
        shuffled_x, shuffled_y = x[order], y[order]
        for start in range(0, len(y), h.BATCH_SIZE):
            optimizer.zero_grad()
            batch = slice(start, start + h.BATCH_SIZE)
            loss_fn(model(shuffled_x[batch]), shuffled_y[batch]).backward()
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
    sampled = min(2, epochs)  # the textbook pipeline decodes every image every epoch alike: two stand for all
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
    x, y_true = data.train.tensors[0][:256], nn.functional.one_hot(data.train.tensors[1][:256], 2).float()

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
    workers = f"the default workers (one per usable core, at most {MAX_WORKERS}: {len(usable_cores())} cores here)"
    heading = f"pool: the whole study, {n_trainings} trainings of {epochs} epochs, with {workers} vs in one process; "
    ways = {"pool": once(epochs), "1 process": once(epochs, "--workers", "1")}
    compare(heading + "each run in a fresh process", f"pool ({n_trainings} trainings)", ways, repeats, "ratio <= 0.8")


def bench_scaling(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The study with the default workers on one core vs on two: how much the second core buys."""
    cores = usable_cores()
    if not hasattr(os, "sched_setaffinity") or len(cores) < 2:
        print("scaling: needs two usable cores and Linux's sched_setaffinity; skipped")
        return
    # Set in the child before torch loads, fixing its threads: one core trains in one process, two in a pool of two.
    both = f"{cores[0]},{cores[1]}"
    heading = f"scaling: the whole study with the default workers on core {cores[0]} vs on cores {both}; each run in a "
    ways = {"1 core": once(epochs, "--cpus", str(cores[0])), "2 cores": once(epochs, "--cpus", both)}
    compare(heading + "fresh process", "scaling 1 vs 2 cores", ways, repeats, "ratio >= 1.6")


def bench_price(data: h.Cifar2, repeats: int, epochs: int) -> None:
    """The pinned study with the pool vs in MKL's fastest mode in one process; beside it, one training in each mode."""
    heading = f"price: the whole study pinned ({PINNED_MKL_MODE}) with the pool vs in MKL's fastest mode (AUTO) in one "
    heading += "process with torch's own threads; each run in a fresh process"
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
    # Each process reads its own peak (see once.py); shared pages count in each, so their sum is an upper bound.
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
    """project1.ipynb Run All as a user sees it (by the kernel's records) vs bare loops; the kernel's peak memory."""
    # The kernel reports its own peak in a cell appended to an in-memory copy; the file is not rewritten.
    script = (
        "import datetime, json, nbformat, nbclient\n"
        "notebook = nbformat.read('project1.ipynb', as_version=4)\n"
        "probe = 'import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)'\n"
        "notebook.cells.append(nbformat.v4.new_code_cell(probe))\n"
        "nbclient.NotebookClient(notebook, timeout=1200, resources={'metadata': {'path': '.'}}).execute()\n"
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
        measured = child_json([sys.executable, "-c", script], "the notebook failed to run")
        lives.append(time.perf_counter() - start)
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
    parser.add_argument("--epochs", type=int, default=h.EPOCHS, help=f"epochs, but the notebook's (default {h.EPOCHS})")
    parser.add_argument("--out", type=Path, default=RESULTS, help="output file (default benchmarks/results.txt)")
    options = parser.parse_args()
    if min(options.repeats, options.epochs) < 1:
        parser.error("--repeats and --epochs must be at least 1")
    out = options.out.resolve()  # before the change of folder, so that a relative path is the caller's
    os.chdir(REPO)
    targets = options.only or list(BENCHMARKS)
    with contextlib.redirect_stdout(Tee()) as printed:
        print(f"CPU {cpu_model()}, {len(usable_cores())} usable cores of {os.cpu_count()}")
        mode = f"MKL mode {h.NUMERICS_MODE} (MKL_CBWR={os.environ.get('MKL_CBWR')})"
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads here, {mode}")
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
