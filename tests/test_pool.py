"""run_trainings: a small study gives the same keys, run records, parameters and printed lines with 1 worker, with 2 and
with more workers than cores, in pools started by spawn; a failing training is named and leaves no results behind."""

import contextlib
import inspect
import io
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch
from test_training import fake_cifar2

import helpers

EPOCHS, BATCH_SIZE = 2, 64
MORE_WORKERS_THAN_CORES = (os.cpu_count() or 1) + 1
LINE = re.compile(r"\[(\d+)/(\d+)\] (.+), (sgd|manual), seed (\d+): loss (\d+\.\d{4}), val acc (\d\.\d{3})")


def small_study(count: int) -> list[helpers.Training]:
    """The study's first `count` trainings, shortened; past its 31, torch.optim.SGD trainings at further seeds."""
    trainings = helpers.study_trainings(n_epochs=EPOCHS, batch_size=BATCH_SIZE)[:count]
    configs = helpers.CONFIGS
    extra = range(count - len(trainings))
    return trainings + [helpers.Training(configs[i % len(configs)], "sgd", 100 + i, EPOCHS, BATCH_SIZE) for i in extra]


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
def study(cifar_root) -> dict:
    """A small study on the real data run with each worker count: its trainings, and per worker count the runs, the
    printed text and the pools made."""
    data = helpers.load_cifar2(cifar_root)
    trainings = small_study(max(6, MORE_WORKERS_THAN_CORES))  # enough trainings that every worker gets one
    runs, printed, pools = {}, {}, {}
    for workers in (1, 2, MORE_WORKERS_THAN_CORES):
        pools[workers], output = [], io.StringIO()
        with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(output):
            patch.setattr(helpers, "ProcessPoolExecutor", recording_pool(pools[workers]))
            runs[workers] = helpers.run_trainings(trainings, data, workers=workers)
        printed[workers] = output.getvalue()
    return {"trainings": trainings, "runs": runs, "printed": printed, "pools": pools}


def test_the_pools_are_started_by_spawn_with_the_workers_asked_for(study):
    assert study["pools"][1] == [], "one worker trains in this process, without a pool"
    assert study["pools"][2] == [(2, "spawn")]
    assert study["pools"][MORE_WORKERS_THAN_CORES] == [(MORE_WORKERS_THAN_CORES, "spawn")]


def test_progress_is_one_line_per_training_in_the_order_given(study):
    trainings = study["trainings"]
    for workers, text in study["printed"].items():
        lines = text.splitlines()
        assert len(lines) == len(trainings), workers
        for index, (line, training) in enumerate(zip(lines, trainings, strict=True)):
            match = LINE.fullmatch(line)
            assert match, f"{workers} workers, line {index + 1}: {line!r}"
            number, total, name, trainer, seed, loss, val_acc = match.groups()
            assert (int(number), int(total)) == (index + 1, len(trainings)), line
            assert (name, trainer, int(seed)) == training.key, line
            run = study["runs"][workers][training.key][0]
            assert (loss, val_acc) == (f"{run['train_loss'][-1]:.4f}", f"{run['val_acc']:.3f}"), line


@pytest.mark.usefixtures("pinned_numerics")
def test_a_small_study_is_bitwise_the_same_with_any_number_of_workers(study):
    reference, reference_text = study["runs"][1], study["printed"][1]
    assert list(reference) == [training.key for training in study["trainings"]]
    assert len({tuple(run["train_loss"]) for run, _ in reference.values()}) > 1, "the trainings all gave one result"
    for workers, runs in study["runs"].items():
        assert list(runs) == list(reference), f"{workers} workers: other keys or another order"
        for key, (run, parameters) in runs.items():
            reference_run, reference_parameters = reference[key]
            assert run == reference_run, f"{workers} workers, {key}: the run record differs from 1 worker's"
            assert list(parameters) == list(reference_parameters), f"{workers} workers, {key}"
            for name, parameter in parameters.items():
                assert torch.equal(parameter, reference_parameters[name]), f"{workers} workers, {key}, {name}"
        assert study["printed"][workers] == reference_text, f"{workers} workers printed other lines"


DIVERGES = {"name": "Model 9", "lr": 1e6, "momentum": 0.0, "weight_decay": 0.0}
NEGATIVE_LR = {"name": "Model 9", "lr": -1.0, "momentum": 0.0, "weight_decay": 0.0}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize(
    ("config", "cause", "says"),
    [
        (DIVERGES, FloatingPointError, "loss is nan at epoch 1, batch 3"),
        (NEGATIVE_LR, ValueError, "lr must be > 0, got -1.0"),
    ],
    ids=["diverges", "negative lr"],
)
def test_a_failing_training_is_named_and_leaves_no_results(config, cause, says, workers, capsys):
    trainings = [helpers.Training(c, t, helpers.SEED, 2, 16) for c in helpers.CONFIGS[:3] for t in ("sgd", "manual")]
    failing = helpers.Training(config, "manual", 97, 2, 16)
    trainings.insert(2, failing)
    children_before = set(multiprocessing.active_children())
    with pytest.raises(RuntimeError) as error:  # raised, so no dict of the runs that did finish comes back
        helpers.run_trainings(trainings, fake_cifar2(), workers=workers)
    message = str(error.value)
    assert all(str(part) in message for part in ("Model 9", "manual", 97, "failed", says)), message
    assert isinstance(error.value.__cause__, cause), "the original error is lost"
    printed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    finished = [f"[1/7] Model 1, sgd, seed {helpers.SEED}", f"[2/7] Model 1, manual, seed {helpers.SEED}"]
    assert printed == finished, "progress must stop at the training that failed"
    assert not set(multiprocessing.active_children()) - children_before, "the pool's workers outlived the failure"
