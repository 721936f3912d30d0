"""project1.ipynb's study: its trainings in worker processes, the same bits at any count; their comparisons."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

# helpers before any matrix product, here and in every worker that unpickles `_train`: importing it pins the numerics.
from helpers import Cifar2, MyMLP, confusion_matrix, in_dtype, make_loader, train_config
from settings import BATCH_SIZE, CONFIGS, CONTROLS, COURSE_SETUPS, EPOCHS, SECOND_SEED_CONFIG, SEED, STUDY_SEEDS

MAX_WORKERS = 8  # a worker peaks near 0.8 GB (its own torch and data): 8 keep a study under about 7 GB

Display = Callable[..., Any]  # IPython's display or alike: display(bundle, raw, display_id) -> a handle with .update


@dataclass(frozen=True)
class Training:
    """One training of the study: a configuration, a trainer ('sgd' or 'manual') and a seed."""

    config: dict
    trainer: str = "sgd"
    seed: int = SEED
    n_epochs: int = EPOCHS
    batch_size: int = BATCH_SIZE

    @property
    def key(self) -> tuple[str, str, int]:
        """(model name, trainer, seed): how the study looks a training up."""
        return self.config["name"], self.trainer, self.seed


def study_trainings(n_epochs: int = EPOCHS, batch_size: int = BATCH_SIZE) -> list[Training]:
    """Each training once: both trainers at SEED, and at the second seed for SECOND_SEED_CONFIG; SGD at every seed,
    for the configurations and then the controls; last, the COURSE_SETUPS with SGD at SEED."""
    trainings = [Training(config, trainer, SEED) for config in CONFIGS for trainer in ("sgd", "manual")]
    second = next(config for config in CONFIGS if config["name"] == SECOND_SEED_CONFIG)
    trainings += [Training(second, trainer, STUDY_SEEDS[1]) for trainer in ("sgd", "manual")]
    trainings += [Training(config, "sgd", seed) for seed in STUDY_SEEDS[1:] for config in CONFIGS]
    trainings += [Training(control, "sgd", seed) for seed in STUDY_SEEDS for control in CONTROLS]
    trainings += [Training(setup, "sgd", SEED) for setup in COURSE_SETUPS]
    unique = {training.key: training for training in trainings}
    return [Training(t.config, t.trainer, t.seed, n_epochs, batch_size) for t in unique.values()]


def usable_cores() -> list[int]:
    """The cores this process may run on (every core where the OS cannot say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def run_trainings(
    trainings: Sequence[Training], data: Cifar2, workers: int | None = None, display: Display | None = None
) -> dict[tuple, tuple]:
    """{key: (run, parameters)}: trained in `workers` one-thread processes (default per core; 1: here), in order."""
    total, runs = len(trainings), {}
    report = _progress(total, display)
    workers = min(workers or min(len(usable_cores()), MAX_WORKERS), total)
    with contextlib.ExitStack() as cleanup:
        if workers == 1:
            results = [lambda t=t: _train(t, data) for t in trainings]
        else:
            spawn = multiprocessing.get_context("spawn")  # the start method of macOS and Windows, so of every platform
            pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(data,))
            cleanup.callback(pool.shutdown, cancel_futures=True)  # after a failure, nothing more starts
            results = [pool.submit(_train, training).result for training in trainings]
        # Each result waited for in the order given, whichever worker finishes first; a failure names the training.
        for index, (training, result) in enumerate(zip(trainings, results, strict=True)):
            try:
                run, parameters = result()
            except Exception as error:
                raise RuntimeError(f"training {index + 1} of {total}, {training.key}, failed: {error}") from error
            name, trainer, seed = training.key
            loss, val_acc = run["train_loss"][-1], run["val_acc"]
            report(f"[{index + 1}/{total}] {name}, {trainer}, seed {seed}: loss {loss:.4f}, val acc {val_acc:.3f}")
            runs[training.key] = run, parameters
    return runs


def _progress(total: int, display: Display | None) -> Callable[[str], None]:
    """Where each line goes: printed, or through `display` (IPython's in a Jupyter kernel) into one output updated."""
    ipython = sys.modules.get("IPython")  # looked up, never imported: outside a kernel it is not needed
    if display is None and ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None:
        from IPython.display import display
    if display is None:
        return print
    # Printed lines reach a notebook in as many outputs as the kernel flushed, varying per run; a display does not.
    header = f"{total} trainings, each with its final training loss and validation accuracy:"
    handle = display({"text/plain": header}, raw=True, display_id=True)
    lines: list[str] = []

    def show(line: str) -> None:
        lines.append(line)
        if len(lines) < total:
            handle.update({"text/plain": "\n".join([header, *lines])}, raw=True)
        else:
            # nbval compares outputs as first sent: the display ends as it began, the lines go to an output of their own
            handle.update({"text/plain": header}, raw=True)
            display({"text/plain": "\n".join(lines)}, raw=True)

    return show


_worker_data: Cifar2 | None = None  # a worker process's copy of the data, set once when it starts


def _start_worker(data: Cifar2) -> None:
    """Set a worker process up: one thread (1 and 2 threads give the same bits in the pinned mode) and the data."""
    global _worker_data
    torch.set_num_threads(1)
    _worker_data = data


def _train(t: Training, data: Cifar2 | None = None) -> tuple[dict, dict[str, Tensor]]:
    """One training (on the worker's data when none is given): its run record and its final parameters."""
    run, model = train_config(t.config, data or _worker_data, t.trainer, t.n_epochs, t.batch_size, t.seed)
    return run, model.state_dict()


def trained_model(parameters: dict[str, Tensor]) -> MyMLP:
    """A MyMLP holding a training's final parameters, in their dtype (float64 for a course-setup run)."""
    model = MyMLP().to(next(iter(parameters.values())).dtype)
    model.load_state_dict(parameters)
    return model


def compare_runs(config: dict, runs: dict[tuple, tuple], seed: int = SEED) -> dict:
    """One configuration's record: its torch.optim.SGD and manual runs at `seed` and their largest differences."""
    (sgd, sgd_parameters), (manual, manual_parameters) = (runs[config["name"], t, seed] for t in ("sgd", "manual"))
    parameters = [(sgd_parameters[name], manual_parameters[name]) for name in sgd_parameters]
    losses = list(zip(sgd["train_loss"], manual["train_loss"], strict=True))
    record = {**config, "sgd": sgd, "manual": manual}
    record["max_param_diff"] = max((p - q).abs().max().item() for p, q in parameters)
    record["max_loss_diff"] = max(abs(p - q) for p, q in losses)
    record["bitwise_identical"] = all(torch.equal(p, q) for p, q in parameters) and all(p == q for p, q in losses)
    return record


def seed_study(runs: dict[tuple, tuple]) -> dict:
    """Each configuration's torch.optim.SGD runs at every seed of STUDY_SEEDS, and at how many seeds it won."""
    models = [{"name": config["name"], **seed_runs(config, runs)} for config in CONFIGS]
    # A model wins a seed when no other model has a higher validation accuracy at that seed: ties all win.
    best = [max(model["val_acc"][i] for model in models) for i in range(len(STUDY_SEEDS))]
    for model in models:
        model["wins"] = sum(val_acc == top for val_acc, top in zip(model["val_acc"], best, strict=True))
    return {"seeds": list(STUDY_SEEDS), "models": models}


def control_study(runs: dict[tuple, tuple]) -> list[dict]:
    """Each control of CONTROLS: its settings, the model it varies and its torch.optim.SGD runs at every seed."""
    return [{**control, **seed_runs(control, runs)} for control in CONTROLS]


def course_setup_runs(runs: dict[tuple, tuple], data: Cifar2) -> list[dict]:
    """Each of COURSE_SETUPS: its settings, its one torch.optim.SGD run at SEED, and that run's confusion matrix on
    the validation images (rows true class, columns predicted)."""
    records = []
    for setup in COURSE_SETUPS:
        run, parameters = runs[setup["name"], "sgd", SEED]
        model = trained_model(parameters)
        val_set = in_dtype(data.val, next(model.parameters()).dtype)
        matrix = confusion_matrix(model, make_loader(val_set, batch_size=len(val_set), shuffle=False))
        measured = {key: run[key] for key in ("train_loss", "train_acc", "val_acc")}
        records.append({**setup, **measured, "val_confusion_matrix": matrix.tolist()})
    return records


def seed_runs(config: dict, runs: dict[tuple, tuple]) -> dict:
    """A configuration's torch.optim.SGD runs at the seeds of STUDY_SEEDS, measurement by measurement."""
    seeds = [runs[config["name"], "sgd", seed][0] for seed in STUDY_SEEDS]
    return {
        "val_acc": [run["val_acc"] for run in seeds],
        "train_acc": [run["train_acc"] for run in seeds],
        "final_train_loss": [run["train_loss"][-1] for run in seeds],
        "train_loss": [run["train_loss"] for run in seeds],
    }
