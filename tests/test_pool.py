"""study.run_trainings: the same runs, parameters and printed lines with 1, 2 and more workers than cores (spawned
pools), the same notebook outputs whatever the worker count, and a failing training named, leaving no results."""

import contextlib
import inspect
import io
import multiprocessing
import os
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import pytest
from conftest import TRAINERS, same_tensors

import helpers
import study

EPOCHS, BATCH_SIZE = 2, 64
MORE_WORKERS_THAN_CORES = (os.cpu_count() or 1) + 1
LINE = re.compile(r"\[(\d+)/(\d+)\] (.+), (sgd|manual), seed (\d+): loss (\d+\.\d{4}), val acc (\d\.\d{3})")


def small_study(count: int) -> list[study.Training]:
    """The study's first `count` trainings, shortened; past its 31, torch.optim.SGD trainings at further seeds."""
    trainings = study.study_trainings(n_epochs=EPOCHS, batch_size=BATCH_SIZE)[:count]
    configs, extra = helpers.CONFIGS, range(count - len(trainings))
    return trainings + [study.Training(configs[i % len(configs)], "sgd", 100 + i, EPOCHS, BATCH_SIZE) for i in extra]


def recording_pool(pools: list) -> type:
    """A ProcessPoolExecutor that notes, for each pool made, its worker count and its processes' start method."""

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            arguments = inspect.signature(ProcessPoolExecutor).bind(*args, **kwargs).arguments
            context = arguments.get("mp_context") or multiprocessing.get_context()  # None: the platform's default
            pools.append((arguments.get("max_workers"), context.get_start_method()))
            super().__init__(*args, **kwargs)

    return RecordingPool


@pytest.fixture(scope="module")
def by_workers(cifar_root) -> dict:
    """A small study on the real data, its runs, printed text and pools made with each worker count."""
    data = helpers.load_cifar2(cifar_root)
    trainings = small_study(max(6, MORE_WORKERS_THAN_CORES))  # enough trainings that every worker gets one
    runs, printed, pools = {}, {}, {}
    for workers in (1, 2, MORE_WORKERS_THAN_CORES):
        pools[workers], output = [], io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
            patch.setattr(study, "ProcessPoolExecutor", recording_pool(pools[workers]))
            runs[workers] = study.run_trainings(trainings, data, workers=workers)
        printed[workers] = output.getvalue()
    return {"trainings": trainings, "runs": runs, "printed": printed, "pools": pools}


def test_the_pools_are_started_by_spawn_with_the_workers_asked_for(by_workers):
    many = MORE_WORKERS_THAN_CORES  # and one worker trains in this process, without a pool
    assert by_workers["pools"] == {1: [], 2: [(2, "spawn")], many: [(many, "spawn")]}


def test_progress_is_one_line_per_training_in_the_order_given(by_workers):
    trainings = by_workers["trainings"]
    for workers, text in by_workers["printed"].items():
        lines = text.splitlines()
        assert len(lines) == len(trainings), workers
        for index, (line, training) in enumerate(zip(lines, trainings, strict=True)):
            match = LINE.fullmatch(line)
            assert match, f"{workers} workers, line {index + 1}: {line!r}"
            number, total, name, trainer, seed, loss, val_acc = match.groups()
            assert (int(number), int(total)) == (index + 1, len(trainings)), line
            assert (name, trainer, int(seed)) == training.key, line
            run = by_workers["runs"][workers][training.key][0]
            assert (loss, val_acc) == (f"{run['train_loss'][-1]:.4f}", f"{run['val_acc']:.3f}"), line


@pytest.mark.usefixtures("pinned_numerics")
def test_a_small_study_is_bitwise_the_same_with_any_number_of_workers(by_workers):
    reference, reference_text = by_workers["runs"][1], by_workers["printed"][1]
    assert list(reference) == [training.key for training in by_workers["trainings"]]
    assert len({tuple(run["train_loss"]) for run, _ in reference.values()}) > 1, "the trainings all gave one result"
    for workers, runs in by_workers["runs"].items():
        assert list(runs) == list(reference), f"{workers} workers: other keys or another order"
        for key, (run, parameters) in runs.items():
            reference_run, reference_parameters = reference[key]
            assert run == reference_run, f"{workers} workers, {key}: the run record differs from 1 worker's"
            assert list(parameters) == list(reference_parameters), f"{workers} workers, {key}"
            assert same_tensors(parameters.values(), reference_parameters.values()), f"{workers} workers, {key}"
        assert by_workers["printed"][workers] == reference_text, f"{workers} workers printed other lines"


def fake_display(outputs: list[dict]) -> Callable:
    """IPython's display, noting per output its text as sent (nbval compares it), as stored and as shown over time."""

    def display(bundle: dict, raw: bool, display_id: bool = False) -> SimpleNamespace | None:
        text = bundle["text/plain"]
        output = {"sent": text, "stored": text, "shown": [text]}
        outputs.append(output)

        def update(bundle: dict, raw: bool) -> None:
            output["stored"] = bundle["text/plain"]
            output["shown"].append(bundle["text/plain"])

        return SimpleNamespace(update=update) if display_id else None

    return display


def test_in_a_notebook_progress_is_updated_in_place_and_stored_alike_with_any_number_of_workers(fake_cifar2, capsys):
    trainings = [study.Training(config, "sgd", helpers.SEED, 2, 16) for config in helpers.CONFIGS[:3]]
    outputs = {1: [], 2: []}
    for workers, shown in outputs.items():
        study.run_trainings(trainings, fake_cifar2, workers=workers, display=fake_display(shown))
    assert capsys.readouterr().out == "", "with a display, progress is not printed"
    study.run_trainings(trainings, fake_cifar2, workers=1)
    lines = capsys.readouterr().out
    for workers, shown in outputs.items():
        stored = [output["stored"] for output in shown]
        assert stored == [output["sent"] for output in shown], f"{workers} workers: nbval would see other outputs"
        assert stored[-1] + "\n" == lines, f"{workers} workers: the lines differ from the printed ones"
        header, first_line = shown[0]["sent"], lines.splitlines()[0]
        assert shown[0]["shown"][1] == f"{header}\n{first_line}", f"{workers} workers: no progress shown in place"
    assert [output["stored"] for output in outputs[1]] == [output["stored"] for output in outputs[2]]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    ("lr", "cause", "says"),
    [(1e6, FloatingPointError, "loss is nan at epoch 1, batch 3"), (-1.0, ValueError, "lr must be > 0, got -1.0")],
    ids=["diverges", "negative lr"],
)
def test_a_failing_training_is_named_and_leaves_no_results(lr, cause, says, workers, capsys, fake_cifar2):
    trainings = [study.Training(c, t, helpers.SEED, 2, 16) for c in helpers.CONFIGS[:3] for t in TRAINERS]
    config = {"name": "Model 9", "lr": lr, "momentum": 0.0, "weight_decay": 0.0}
    trainings.insert(2, study.Training(config, "manual", 97, 2, 16))
    children_before = set(multiprocessing.active_children())
    with pytest.raises(RuntimeError) as error:  # raised, so no dict of the runs that did finish comes back
        study.run_trainings(trainings, fake_cifar2, workers=workers)
    message = str(error.value)
    assert all(str(part) in message for part in ("Model 9", "manual", 97, "failed", says)), message
    assert isinstance(error.value.__cause__, cause), "the original error is lost"
    printed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    finished = [f"[1/7] Model 1, sgd, seed {helpers.SEED}", f"[2/7] Model 1, manual, seed {helpers.SEED}"]
    assert printed == finished, "progress must stop at the training that failed"
    assert not set(multiprocessing.active_children()) - children_before, "the pool's workers outlived the failure"
