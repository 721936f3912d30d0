"""study.run_trainings: the same bits, lines and notebook outputs at any worker count; a failing training named."""

import contextlib
import io
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import pytest
from conftest import TRAINERS, same_tensors

import helpers
import study

EPOCHS, BATCH_SIZE = 2, 64
MORE_WORKERS_THAN_CORES = (os.cpu_count() or 1) + 1


def recording_pool(pools: list) -> Callable:
    """A ProcessPoolExecutor maker that notes, for each pool, its worker count and its processes' start method."""

    def make(max_workers=None, mp_context=None, *args, **kwargs) -> ProcessPoolExecutor:
        context = mp_context or multiprocessing.get_context()  # None: the platform's default
        pools.append((max_workers, context.get_start_method()))
        return ProcessPoolExecutor(max_workers, mp_context, *args, **kwargs)

    return make


@pytest.fixture(scope="module")
def by_workers(cifar_root) -> dict:
    """A small study on the real data, its runs, printed text and pools made with each worker count."""
    data, count = helpers.load_cifar2(cifar_root), max(6, MORE_WORKERS_THAN_CORES)  # a training for every worker
    # The study's first `count` trainings, shortened; past its 31, torch.optim.SGD trainings at further seeds.
    trainings = study.study_trainings(n_epochs=EPOCHS, batch_size=BATCH_SIZE)[:count]
    configs, extra = helpers.CONFIGS, range(count - len(trainings))
    trainings += [study.Training(configs[i % len(configs)], "sgd", 100 + i, EPOCHS, BATCH_SIZE) for i in extra]
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
            (name, trainer, seed), run = training.key, by_workers["runs"][workers][training.key][0]
            numbered = f"[{index + 1}/{len(trainings)}] {name}, {trainer}, seed {seed}"
            assert line == f"{numbered}: loss {run['train_loss'][-1]:.4f}, val acc {run['val_acc']:.3f}", workers


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


def fake_display(outputs: list[list[str]]) -> Callable:
    """IPython's display, noting each output's texts in turn: the first as sent (nbval compares it), the last stored."""

    def display(bundle: dict, raw: bool, display_id: bool = False) -> SimpleNamespace | None:
        texts = [bundle["text/plain"]]
        outputs.append(texts)
        return SimpleNamespace(update=lambda bundle, raw: texts.append(bundle["text/plain"])) if display_id else None

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
        stored = [texts[-1] for texts in shown]
        assert stored == [texts[0] for texts in shown], f"{workers} workers: nbval would see other outputs"
        assert stored[-1] + "\n" == lines, f"{workers} workers: the lines differ from the printed ones"
        header, first_line = shown[0][0], lines.splitlines()[0]
        assert shown[0][1] == f"{header}\n{first_line}", f"{workers} workers: no progress shown in place"
    assert [texts[-1] for texts in outputs[1]] == [texts[-1] for texts in outputs[2]]


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
    assert all(str(part) in str(error.value) for part in ("Model 9", "manual", 97, "failed", says)), error.value
    assert isinstance(error.value.__cause__, cause), "the original error is lost"
    printed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    finished = [f"[1/7] Model 1, sgd, seed {helpers.SEED}", f"[2/7] Model 1, manual, seed {helpers.SEED}"]
    assert printed == finished, "progress must stop at the training that failed"
    assert not set(multiprocessing.active_children()) - children_before, "the pool's workers outlived the failure"
