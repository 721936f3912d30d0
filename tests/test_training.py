"""The trainers, the loader, the evaluation helpers, the study's bookkeeping (study.py) and the plots."""

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import TRAINERS, fit, same_tensors
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

import analysis
import helpers
import study
from helpers import make_loader, train, train_manual_update

FIGURES = Path(__file__).resolve().parents[1] / "figures"
DTYPES = (torch.float32, torch.float64)


def small_data(n: int = 200, dtype=torch.float32) -> TensorDataset:
    x = torch.randn(n, 12, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return TensorDataset(x, (x[:, :3].argmax(dim=1) + (x[:, -1] > 1.5)).remainder(3))


def small_model(dtype=torch.float32) -> nn.Module:
    torch.manual_seed(helpers.SEED)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)


def assert_trainers_agree(lr, momentum, weight_decay, dtype, n_epochs=3) -> nn.Module:
    """One start trained with torch.optim.SGD and by hand on the same batches: bitwise-equal parameters and losses."""
    models, dataset = [small_model(dtype), small_model(dtype)], small_data(dtype=dtype)
    sgd, manual = (
        fit(trainer, n_epochs, model, nn.CrossEntropyLoss(), make_loader(dataset, 32), lr, momentum, weight_decay)
        for trainer, model in zip(TRAINERS, models, strict=True)
    )
    assert same_tensors(models[0].parameters(), models[1].parameters())
    assert sgd == manual and all(math.isfinite(loss) for loss in sgd)
    return models[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", helpers.CONFIGS, ids=lambda config: config["name"])
def test_five_configurations_are_bitwise_identical(config, dtype):
    trained = assert_trainers_agree(**helpers.sgd_settings(config), dtype=dtype)
    assert not same_tensors(small_model(dtype).parameters(), trained.parameters()), "training changed nothing"


@settings(max_examples=40, deadline=None)
@given(st.floats(1e-4, 0.5), *(st.just(0.0) | st.floats(0.0, high) for high in (0.99, 0.1)), st.sampled_from(DTYPES))
def test_random_configurations_are_bitwise_identical(lr, momentum, weight_decay, dtype):
    assert_trainers_agree(lr, momentum, weight_decay, dtype, n_epochs=2)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_manual_step_survives_gradients_zeroed_in_place(weight_decay):
    """The aliasing trap: with weight_decay 0 a buffer that is p.grad itself is wiped by grad.zero_()."""
    x, y = small_data().tensors
    sgd_model, manual_model = small_model(), small_model()
    optimizer = torch.optim.SGD(sgd_model.parameters(), lr=0.05, momentum=0.9, weight_decay=weight_decay)
    parameters = list(manual_model.parameters())
    buffers = [None] * len(parameters)
    for step in range(4):
        batch = slice(32 * step, 32 * step + 32)
        for model in (sgd_model, manual_model):  # zeroed in place, not set to None: the trap
            model.zero_grad(set_to_none=False)
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
        helpers.manual_sgd_step(parameters, buffers, 0.05, 0.9, weight_decay)
    assert same_tensors(sgd_model.parameters(), parameters)
    assert all(buffer is not parameter.grad for buffer, parameter in zip(buffers, parameters, strict=True))


def test_mymlp_shapes_and_activations():
    model, x = helpers.MyMLP(), torch.randn(5, 3, 16, 16)
    assert [tuple(p.shape) for p in model.parameters()] == [(128, 768), (128,), (32, 128), (32,), (2, 32), (2,)]
    first, second, output = (model.fc[str(l)] for l in (1, 2, 3))
    assert torch.equal(model(x), output(torch.relu(second(torch.relu(first(x.flatten(1)))))))


def test_loaders_made_alike_yield_the_same_batches():
    dataset = small_data(n=70)
    first, second = make_loader(dataset, batch_size=16), make_loader(dataset, batch_size=16)
    assert len(first) == 5
    epochs = []
    for _epoch in range(3):
        batches = list(first)
        assert all(same_tensors(batch, other) for batch, other in zip(batches, second, strict=True))
        assert [len(y) for _, y in batches] == [16, 16, 16, 16, 6]
        order = torch.cat([x for x, _ in batches])
        assert sorted(order[:, 0].tolist()) == sorted(dataset.tensors[0][:, 0].tolist())
        epochs.append(order)
    assert not torch.equal(epochs[0], epochs[1]), "the loader did not reshuffle between epochs"
    other_seed = next(iter(make_loader(dataset, batch_size=16, seed=1)))[0]
    assert not torch.equal(other_seed, epochs[0][:16])


def test_unshuffled_loader_keeps_the_order_and_a_bad_batch_size_is_refused():
    dataset = small_data(n=50)
    x = torch.cat([batch for batch, _ in make_loader(dataset, batch_size=20, shuffle=False)])
    assert torch.equal(x, dataset.tensors[0])
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        make_loader(dataset, batch_size=0)


@pytest.mark.parametrize(
    ("n_epochs", "hyper", "message"),
    [
        *((1, {"lr": lr}, f"lr must be > 0, got {lr}") for lr in (0.0, -0.1, float("nan"))),
        *((1, {"lr": 0.1, "momentum": m}, rf"momentum must be in \[0, 1\), got {m}") for m in (1.0, -0.5)),
        (1, {"lr": 0.1, "weight_decay": -0.01}, "weight_decay must be >= 0, got -0.01"),
        *((n, {"lr": 0.1}, f"n_epochs must be a whole number >= 1, got {n}") for n in (0, -3, 1.5)),
    ],
)
def test_bad_hyperparameters_and_epoch_counts_name_the_value(n_epochs, hyper, message):
    loader, model = make_loader(small_data()), small_model()
    with pytest.raises(ValueError, match=message):
        train_manual_update(n_epochs, model, nn.CrossEntropyLoss(), loader, **hyper)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    optimizer.param_groups[0].update(hyper)  # set after construction: SGD itself refuses some of these values
    with pytest.raises(ValueError, match=message):
        train(n_epochs, optimizer, model, nn.CrossEntropyLoss(), loader)


@pytest.mark.parametrize("trainer", TRAINERS)
def test_non_finite_loss_names_epoch_and_batch(trainer):
    x, y = small_data(n=100).tensors
    x[70, 3] = float("inf")
    loader = make_loader(TensorDataset(x, y), batch_size=32, shuffle=False)
    with pytest.raises(FloatingPointError, match="at epoch 1, batch 3"):
        fit(trainer, 2, small_model(), nn.CrossEntropyLoss(), loader, lr=0.1)


def test_divergence_is_caught_in_a_later_epoch():
    x, _ = small_data().tensors
    targets = torch.randn(len(x), 3, generator=torch.Generator().manual_seed(1)) * 100
    loader = make_loader(TensorDataset(x, targets), batch_size=len(x))
    with pytest.raises(FloatingPointError, match=r"at epoch (\d+), batch 1") as error:
        train_manual_update(200, small_model(), nn.MSELoss(), loader, lr=10.0)
    assert int(re.search(r"at epoch (\d+)", str(error.value)).group(1)) > 1


def test_training_returns_one_mean_loss_per_epoch_and_calls_back_after_each():
    dataset, model, accuracies = small_data(), small_model(), []
    eval_loader = make_loader(dataset, batch_size=1000, shuffle=False)

    def record(trained: nn.Module) -> None:
        accuracies.append(helpers.accuracy(trained, eval_loader))

    losses = train_manual_update(4, model, nn.CrossEntropyLoss(), make_loader(dataset), 0.1, 0.9, after_epoch=record)
    assert len(losses) == 4 and all(isinstance(loss, float) for loss in losses) and losses[-1] < losses[0]
    assert len(accuracies) == 4 and accuracies[-1] == helpers.accuracy(model, eval_loader)


def test_accuracy_and_confusion_matrix_on_an_asymmetric_hand_made_case():
    """Rows are the true class: class 0 is right once and taken for 1 twice; class 1 is right twice, wrong once."""
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 4.0], [5.0, 0.0], [1.0, 4.0], [0.0, 1.0]])
    loader = make_loader(TensorDataset(logits, torch.tensor([0, 0, 0, 1, 1, 1])), batch_size=4, shuffle=False)
    assert helpers.accuracy(nn.Identity(), loader) == 3 / 6
    assert torch.equal(helpers.confusion_matrix(nn.Identity(), loader), torch.tensor([[1, 2], [1, 2]]))


def small_runs(data, configs, seeds=(helpers.SEED,), n_epochs=3, batch_size=16) -> dict:
    """Each configuration trained with both trainers at each seed, in this process: run_trainings' dict of runs."""
    trainings = [study.Training(c, t, seed, n_epochs, batch_size) for seed in seeds for c in configs for t in TRAINERS]
    return study.run_trainings(trainings, data, workers=1)


def test_study_trainings_lists_each_training_of_the_study_once():
    trainings = study.study_trainings(n_epochs=3, batch_size=16)
    keys = [training.key for training in trainings]
    configs = {config["name"]: config for config in (*helpers.CONFIGS, *helpers.CONTROLS, *helpers.COURSE_SETUPS)}
    main_runs = [(name, trainer, helpers.SEED) for name in configs if name.startswith("Model") for trainer in TRAINERS]
    studied = (*helpers.CONFIGS, *helpers.CONTROLS)
    seed_runs = {(config["name"], "sgd", seed) for config in studied for seed in helpers.STUDY_SEEDS}
    # The fourth configuration is trained by hand at the second seed too: the exactness check, repeated.
    repeated = (helpers.CONFIGS[3]["name"], "manual", helpers.STUDY_SEEDS[1])
    # The course-setup runs come last, once each, at the first seed.
    course_runs = [(setup["name"], "sgd", helpers.SEED) for setup in helpers.COURSE_SETUPS]
    assert keys[: len(main_runs)] == main_runs, "the first seed's runs, both trainers, come first"
    assert keys[-len(course_runs) :] == course_runs
    assert len(keys) == len(set(keys)) and set(keys) == set(main_runs) | seed_runs | {repeated} | set(course_runs)
    assert all(training.config == configs[training.key[0]] for training in trainings)
    assert {training.trainer for training in trainings if training.config in helpers.CONTROLS} == {"sgd"}
    assert {(training.n_epochs, training.batch_size) for training in trainings} == {(3, 16)}
    assert {(t.n_epochs, t.batch_size) for t in study.study_trainings()} == {(helpers.EPOCHS, helpers.BATCH_SIZE)}


def test_compare_runs_records_an_exact_comparison_and_is_reproducible(fake_cifar2):
    data, config, second_seed = fake_cifar2, helpers.CONFIGS[3], helpers.STUDY_SEEDS[1]
    runs = small_runs(data, [config], seeds=(helpers.SEED, second_seed))
    first = study.compare_runs(config, runs)
    assert first == study.compare_runs(config, small_runs(data, [config]))
    assert first["bitwise_identical"] is True and first["max_param_diff"] == 0.0 == first["max_loss_diff"]
    assert {key: first[key] for key in config} == config
    assert len(first["sgd"]["train_loss"]) == 3 and len(first["manual"]["val_acc_per_epoch"]) == 3
    model = study.trained_model(runs[config["name"], "sgd", helpers.SEED][1])
    assert first["sgd"]["val_acc"] == helpers.accuracy(model, make_loader(data.val, shuffle=False))
    at_second_seed = study.compare_runs(config, runs, seed=second_seed)
    assert at_second_seed["sgd"] == runs[config["name"], "sgd", second_seed][0]
    assert at_second_seed["sgd"]["train_loss"] != first["sgd"]["train_loss"], "the seed was not used"
    assert at_second_seed["bitwise_identical"] is True


def test_compare_runs_sees_a_difference_of_one_ulp(fake_cifar2):
    config = helpers.CONFIGS[2]
    runs = small_runs(fake_cifar2, [config], n_epochs=2)
    key = (config["name"], "manual", helpers.SEED)
    manual, parameters = runs[key]
    weight = parameters["fc.2.weight"].clone()
    weight[3, 5] = torch.nextafter(weight[3, 5], torch.tensor(math.inf))
    runs[key] = (manual, {**parameters, "fc.2.weight": weight})
    record = study.compare_runs(config, runs)
    assert record["bitwise_identical"] is False and record["max_loss_diff"] == 0.0
    assert record["max_param_diff"] == (weight[3, 5] - parameters["fc.2.weight"][3, 5]).item() > 0
    last = manual["train_loss"][-1]
    runs[key] = ({**manual, "train_loss": [*manual["train_loss"][:-1], math.nextafter(last, math.inf)]}, parameters)
    record = study.compare_runs(config, runs)
    assert record["bitwise_identical"] is False and record["max_param_diff"] == 0.0
    assert record["max_loss_diff"] == math.nextafter(last, math.inf) - last > 0


def test_every_plot_writes_a_png(tmp_path, fake_cifar2):
    data, committed = fake_cifar2, analysis.load_analysis(FIGURES)
    runs = small_runs(data, helpers.CONFIGS[:2], n_epochs=2)
    models = [study.compare_runs(config, runs) for config in helpers.CONFIGS[:2]]
    torch.manual_seed(0)
    check = helpers.gradient_check(helpers.MyNet([4, 3, 2]), torch.randn(3, 4), torch.randn(3, 2))
    plots = {
        "samples": lambda path: helpers.plot_samples(data, path=path),
        "gradient_check": lambda path: helpers.plot_gradient_check({"correct": check}, path=path),
        "accuracies": lambda path: helpers.plot_accuracies(models, path=path),
        "final_losses": lambda path: helpers.plot_final_losses(models, path=path),
        "loss_panels": lambda path: helpers.plot_loss_panels(models, path=path),
        "loss_curves": lambda path: helpers.plot_loss_curves(models, path=path),
        "val_curves": lambda path: helpers.plot_val_accuracy_curves(models, "Model 1", path=path),
        "selected": lambda path: helpers.plot_selected_accuracy(committed.models, committed.selection, path=path),
        "confusion": lambda path: helpers.plot_confusion_matrix([[9, 1], [2, 8]], helpers.CLASSES, "test", path=path),
        "seed_study": lambda path: helpers.plot_seed_study(committed.models, committed.seeds, path=path),
    }
    for name, plot in plots.items():
        path = tmp_path / f"{name}.png"
        figure = plot(path)
        assert figure.axes and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000, name
        helpers.plt.close(figure)


def test_confusion_heatmap_starts_at_zero_and_shows_row_shares():
    figure = helpers.plot_confusion_matrix([[927, 73], [92, 908]], helpers.CLASSES, "test")
    heatmap = figure.axes[0].collections[0]
    assert heatmap.norm.vmin == 0 and heatmap.norm.vmax == 1000
    texts = [" ".join(text.get_text().split()) for text in figure.axes[0].texts]  # line breaks are layout
    assert texts == ["927 (92.7% of row)", "73 (7.3% of row)", "92 (9.2% of row)", "908 (90.8% of row)"]
    helpers.plt.close(figure)


def test_selected_accuracy_draws_every_model_and_the_selected_models_test_interval():
    committed = analysis.load_analysis(FIGURES)
    first, *others = committed.models
    first = replace(first, train_acc=0.9, val_acc=0.8, val_interval=analysis.Interval(0.77, 0.83), selected=True)
    others = [replace(model, selected=False) for model in others]
    test_interval = analysis.Interval(0.8342, 0.8651)
    selection = replace(committed.selection, model=first, test_acc=0.85, test_interval=test_interval)
    figure = helpers.plot_selected_accuracy([first, *others], selection)
    axis = figure.axes[0]
    points = [tuple(line.get_xydata()[0]) for line in axis.lines if line.get_marker() in ("o", "s", "D")]
    # The training dot and the validation square per model; the test diamond only beside the selected model.
    assert len(points) == 2 * len(committed.models) + 1
    assert points[:3] == [(1 - 0.22, 0.9), (1, 0.8), (1 + 0.26, 0.85)]
    caps = [line.get_ydata()[0] for line in axis.lines if line.get_marker() == "_"]  # interval ends, up to rounding
    assert caps[:4] == pytest.approx([0.77, 0.83, 0.8342, 0.8651], abs=1e-12)
    assert axis.get_xticklabels()[0].get_text() == "1\n(selected)"
    helpers.plt.close(figure)


def test_seed_study_takes_the_first_seeds_runs_as_the_main_ones_and_counts_ties_as_wins(monkeypatch, fake_cifar2):
    configs = helpers.CONFIGS[:2]
    monkeypatch.setattr(study, "CONFIGS", configs)
    monkeypatch.setattr(study, "STUDY_SEEDS", (helpers.SEED, 7, 8))
    runs = small_runs(fake_cifar2, configs, n_epochs=2)  # the main runs: both trainers at the first seed
    val_acc = {("Model 1", 7): 0.5, ("Model 2", 7): 0.5, ("Model 1", 8): 0.5, ("Model 2", 8): 0.625}
    for (name, seed), accuracy in val_acc.items():
        runs[name, "sgd", seed] = ({"train_loss": [1.0, 0.5], "train_acc": 0.75, "val_acc": accuracy}, {})
    # A manual run that beats every other run at seed 7: the study reads torch.optim.SGD's runs only.
    runs["Model 1", "manual", 7] = ({"train_loss": [1.0, 0.25], "train_acc": 1.0, "val_acc": 1.0}, {})
    result = study.seed_study(runs)
    assert result["seeds"] == [helpers.SEED, 7, 8] and [m["name"] for m in result["models"]] == ["Model 1", "Model 2"]
    first, second = result["models"]
    main = [runs[config["name"], "sgd", helpers.SEED][0] for config in configs]
    assert first["val_acc"] == [main[0]["val_acc"], 0.5, 0.5]
    assert first["final_train_loss"] == [main[0]["train_loss"][-1], 0.5, 0.5]
    assert first["train_acc"] == [main[0]["train_acc"], 0.75, 0.75]
    assert first["train_loss"] == [main[0]["train_loss"], [1.0, 0.5], [1.0, 0.5]]
    assert second["val_acc"] == [main[1]["val_acc"], 0.5, 0.625]
    at_first_seed = [run["val_acc"] for run in main]
    first_seed_wins = [value == max(at_first_seed) for value in at_first_seed]
    # Seed 7 is a tie (both 0.5): both win; seed 8 goes to Model 2 (0.625 against 0.5).
    assert [model["wins"] for model in result["models"]] == [first_seed_wins[0] + 1, first_seed_wins[1] + 2]


def test_control_study_keeps_each_controls_settings_and_reads_its_sgd_runs_at_every_seed(monkeypatch):
    control = {"name": "Control 9", "lr": 0.5, "momentum": 0.0, "weight_decay": 0.0, "varies": "Model 1"}
    monkeypatch.setattr(study, "CONTROLS", (control,))
    monkeypatch.setattr(study, "STUDY_SEEDS", (helpers.SEED, 7))
    runs = {
        ("Control 9", "sgd", helpers.SEED): ({"train_loss": [1.0, 0.75], "train_acc": 0.5, "val_acc": 0.25}, {}),
        ("Control 9", "sgd", 7): ({"train_loss": [1.0, 0.5], "train_acc": 0.75, "val_acc": 0.5}, {}),
        ("Control 9", "manual", 7): ({"train_loss": [1.0, 0.25], "train_acc": 1.0, "val_acc": 1.0}, {}),
    }
    assert study.control_study(runs) == [
        {
            **control,
            "val_acc": [0.25, 0.5],
            "train_acc": [0.5, 0.75],
            "final_train_loss": [0.75, 0.5],
            "train_loss": [[1.0, 0.75], [1.0, 0.5]],
        }
    ]


def test_train_config_names_a_bad_trainer(fake_cifar2):
    with pytest.raises(ValueError, match="trainer must be 'sgd' or 'manual', got 'adam'"):
        helpers.train_config(helpers.CONFIGS[0], fake_cifar2, "adam", n_epochs=1)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64', got 'float16'"):
        helpers.train_config({**helpers.CONFIGS[0], "dtype": "float16"}, fake_cifar2, n_epochs=1)


def test_recording_validation_accuracy_after_every_epoch_changes_nothing_in_the_training(fake_cifar2):
    data, config = fake_cifar2, helpers.CONFIGS[3]
    run, model = helpers.train_config(config, data, "sgd", n_epochs=3, batch_size=16)
    torch.manual_seed(helpers.SEED)
    bare_model = helpers.MyMLP()
    loader = make_loader(data.train, batch_size=16)
    losses = fit("sgd", 3, bare_model, nn.CrossEntropyLoss(), loader, **helpers.sgd_settings(config))
    assert run["train_loss"] == losses and len(run["val_acc_per_epoch"]) == 3
    assert same_tensors(model.parameters(), bare_model.parameters())
    val_loader = make_loader(data.val, batch_size=len(data.val), shuffle=False)
    assert run["val_acc"] == run["val_acc_per_epoch"][-1] == helpers.accuracy(model, val_loader)


def test_a_configuration_can_train_in_float64_reading_the_training_set_in_order(fake_cifar2):
    config = {**helpers.CONFIGS[0], "dtype": "float64", "shuffle": False}
    run, model = helpers.train_config(config, fake_cifar2, "sgd", n_epochs=2, batch_size=16)
    assert all(parameter.dtype == torch.float64 for parameter in model.parameters())
    torch.manual_seed(helpers.SEED)
    bare_model = helpers.MyMLP().double()
    inputs, targets = fake_cifar2.train.tensors
    loader = make_loader(TensorDataset(inputs.double(), targets), batch_size=16, shuffle=False)
    losses = fit("sgd", 2, bare_model, nn.CrossEntropyLoss(), loader, **helpers.sgd_settings(config))
    assert run["train_loss"] == losses and same_tensors(model.parameters(), bare_model.parameters())
    reshuffled, _ = helpers.train_config({**config, "shuffle": True}, fake_cifar2, "sgd", n_epochs=2, batch_size=16)
    assert reshuffled["train_loss"] != run["train_loss"]


def test_the_course_setups_are_collected_by_name_with_their_validation_confusion(fake_cifar2):
    runs = {}
    for i, setup in enumerate(helpers.COURSE_SETUPS):
        run, model = helpers.train_config(
            {**setup, "lr": 0.05 * (i + 1)}, fake_cifar2, "sgd", n_epochs=2, batch_size=16
        )
        runs[setup["name"], "sgd", helpers.SEED] = (run, model.state_dict())
    records = study.course_setup_runs(runs, fake_cifar2)
    assert [record["name"] for record in records] == [setup["name"] for setup in helpers.COURSE_SETUPS]
    assert all(record["dtype"] == "float64" and record["copies"] == "Model 1" for record in records)
    targets = fake_cifar2.val.tensors[1]
    for record, (run, _) in zip(records, runs.values(), strict=True):
        matrix = torch.tensor(record["val_confusion_matrix"])
        # Rows are the true classes; the diagonal holds exactly the images the run's validation accuracy counts.
        assert matrix.sum(dim=1).tolist() == targets.bincount(minlength=2).tolist()
        assert matrix.trace().item() == round(run["val_acc"] * len(targets))
        assert record["val_acc"] == run["val_acc"] and record["train_loss"] == run["train_loss"]
    # The float64 parameters are used as they are: a float32 copy would round them.
    assert all(p.dtype == torch.float64 for p in study.trained_model(next(iter(runs.values()))[1]).parameters())
