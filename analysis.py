"""The study's conclusions, computed once. `analyse(results, checks)` turns what the notebooks measured
(figures/results.json and figures/backprop_checks.json) into frozen records: intervals, tests, adjusted p-values,
verdicts, spreads over seeds and the comparison with the reference report. `project1.ipynb` shows these records, and
the report only formats them. No torch here, so the report renders without it."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from settings import CLASSES, COMPARISONS, COURSE_EPOCHS, MARK_EVERY, SGD_SETTINGS

SIGNIFICANCE = 0.05  # a difference is resolved when its test's p-value (adjusted where several are made) is below
CONFIDENCE = 0.95  # the coverage of every interval
Z = statistics.NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)

# The reference report's published numbers (3 decimals): training and validation accuracy per model, its selected
# model's test accuracy and confusion matrix, and the one final training loss it quotes.
REFERENCE = {
    "accuracies": {
        "Model 1": (0.897, 0.885),
        "Model 2": (0.893, 0.885),
        "Model 3": (0.982, 0.919),
        "Model 4": (0.983, 0.921),
        "Model 5": (0.976, 0.913),
    },
    "selected": "Model 4",
    "test_acc": 0.917,
    "confusion_matrix": [[913, 87], [79, 921]],
    "final_train_loss": ("Model 5", 0.031),
}
# The course's example output (gradient_descent_output.txt; accuracies to 2 decimals), all at lr 0.01 and seed 265:
# training and validation accuracy per (momentum, weight decay), and the last-epoch loss of the one with neither.
COURSE_OUTPUT = {
    "accuracies": {
        (0.0, 0.0): (0.88, 0.83),
        (0.0, 0.01): (0.87, 0.83),
        (0.9, 0.0): (0.97, 0.83),
        (0.9, 0.01): (0.96, 0.84),
        (0.9, 0.001): (0.98, 0.83),
        (0.8, 0.01): (0.88, 0.80),
    },
    "lr": 0.01,
    "final_train_loss": ((0.0, 0.0), 0.31793),
}

# --- Statistics ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A confidence interval."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether the value lies inside the interval, ends included."""
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (n − 1), smallest and largest of a few values."""

    mean: float
    std: float
    min: float
    max: float


def spread(values: Sequence[float]) -> Spread:
    """The spread of a few values, such as one measurement under several seeds."""
    return Spread(statistics.mean(values), statistics.stdev(values), min(values), max(values))


def wilson_interval(successes: int, n: int, z: float = Z) -> Interval:
    """Wilson score interval of a proportion of `successes` out of n (at CONFIDENCE for the default z)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    p, shrink = successes / n, 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / shrink
    half_width = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / shrink
    return Interval(centre - half_width, centre + half_width)


def exact_mcnemar_p(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against a fair coin."""
    n = only_first_right + only_second_right
    tail = sum(math.comb(n, k) for k in range(min(only_first_right, only_second_right) + 1)) / 2**n
    return min(1.0, 2 * tail)


def binomial_tail(at_least: int, n: int, p: float) -> float:
    """The chance of at least `at_least` successes in n independent trials that each succeed with chance p."""
    # The full sum is 1 up to rounding, which can exceed it by an ulp.
    return min(1.0, sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(at_least, n + 1)))


def class_error_p(confusion: Sequence[Sequence[int]]) -> float:
    """Two-sided exact binomial test that each class takes a share of the errors equal to its share of the images."""
    (_, first_as_second), (second_as_first, _) = confusion
    errors = first_as_second + second_as_first
    first_share = sum(confusion[0]) / (sum(confusion[0]) + sum(confusion[1]))
    at_least = binomial_tail(first_as_second, errors, first_share)
    at_most = binomial_tail(second_as_first, errors, 1 - first_share)
    return min(1.0, 2 * min(at_least, at_most))


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: a family of tests judged at one error rate."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running_max = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running_max = max(running_max, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running_max
    return adjusted


def student_t_p(t: float, df: int) -> float:
    """Two-sided tail P(|T| >= |t|) of Student's t with a whole number of degrees of freedom, from the closed forms of
    its distribution function in θ = atan(|t| / sqrt(df)): a finite series in cos θ, even and odd df apart."""
    theta = math.atan(abs(t) / math.sqrt(df))
    cos_squared, term, series = math.cos(theta) ** 2, 1.0 if df % 2 == 0 else math.cos(theta), 0.0
    for k in range(2 if df % 2 == 0 else 3, df + 1, 2):  # adds each term up to cos^(df − 2) θ
        series += term
        term *= cos_squared * (k - 1) / k
    inside = math.sin(theta) * series if df % 2 == 0 else 2 / math.pi * (theta + math.sin(theta) * series)
    return min(1.0, max(0.0, 1.0 - inside))


def paired_t_p(differences: Sequence[float]) -> float:
    """Two-sided paired t-test of differences, one per seed: how unlikely so large a mean would be if they were normal
    around zero. All differences equal: 1 if they are zero, else 0."""
    mean, sd = statistics.mean(differences), statistics.stdev(differences)
    if sd == 0:
        return 1.0 if mean == 0 else 0.0
    return student_t_p(mean / (sd / math.sqrt(len(differences))), len(differences) - 1)


def student_t_critical(df: int, confidence: float = CONFIDENCE) -> float:
    """The t whose two-sided tail under Student's t with df degrees of freedom is 1 − confidence, by bisection."""
    low, high = 0.0, 1e4
    for _ in range(100):  # halves the bracket well past float64's resolution
        middle = (low + high) / 2
        low, high = (middle, high) if student_t_p(middle, df) > 1 - confidence else (low, middle)
    return (low + high) / 2


def paired_t_interval(differences: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Confidence interval of the mean of differences, one per seed, from Student's t (the paired t-test's interval)."""
    mean, sd = statistics.mean(differences), statistics.stdev(differences)
    half_width = student_t_critical(len(differences) - 1, confidence) * sd / math.sqrt(len(differences))
    return Interval(mean - half_width, mean + half_width)


# --- Records ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpochLoss:
    """The mean training loss of one epoch under both trainers."""

    epoch: int
    sgd: float
    manual: float
    equal: bool


@dataclass(frozen=True)
class Model:
    """One configuration: its settings, its seed-42 run, its behaviour over epochs and its spread over seeds."""

    name: str
    lr: float
    momentum: float
    weight_decay: float
    selected: bool
    train_acc: float
    val_acc: float
    val_interval: Interval
    final_loss: float
    gap: float  # training minus validation accuracy
    losses: tuple[EpochLoss, ...]  # at the epochs of the course's example output
    loss_rises: int  # epochs whose mean loss is above the previous epoch's
    largest_val_drop_images: int
    best_epochs: tuple[int, ...]
    below_best_images: int  # how many fewer validation images the last epoch gets right than the best epoch
    fall_within_swings: bool  # that shortfall is no larger than the largest fall between two consecutive epochs
    step_factor: float  # 1 / (1 − μ): the step under a constant gradient, relative to plain SGD's
    decay_per_step: float  # η λ / (1 − μ): the steady-state shrinkage of a parameter per step by weight decay alone
    decay_over_training: float
    val_acc_by_seed: tuple[float, ...]  # the torch.optim.SGD runs under each seed of the seed study
    train_acc_by_seed: tuple[float, ...]
    seed_val_acc: Spread
    seed_train_acc: Spread
    seed_final_loss: Spread
    final_loss_by_seed: tuple[float, ...]
    loss_rises_by_seed: tuple[int, ...]  # epochs whose mean loss rose, at each seed
    seed_loss_rises: Spread
    wins: int  # seeds at which no other configuration had a higher validation accuracy


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test of the selected model against another on the same validation images (two-sided)."""

    other: Model
    only_selected_right: int
    only_other_right: int
    p: float
    holm_p: float  # adjusted for the family of tests of the selected model against each other one
    resolved: bool  # holm_p < SIGNIFICANCE


@dataclass(frozen=True)
class SeedDifference:
    """One measure of two configurations compared seed by seed, where both start from the same weights and batches:
    at how many seeds the first is above and below the second, the mean difference, and a two-sided paired t-test."""

    above: int
    below: int
    mean: float  # mean over seeds of first − second
    interval: Interval  # its CONFIDENCE interval
    p: float
    resolved: bool  # p < SIGNIFICANCE
    always_above: bool  # above at every seed
    always_below: bool


@dataclass(frozen=True)
class SeedPair:
    """Two configurations that differ in one setting (`changed` against `base`), compared seed by seed."""

    base: Model
    changed: Model
    final_loss_lower: bool  # the seed-42 run of `changed` ends with the lower training loss
    train_acc: SeedDifference
    val_acc: SeedDifference


@dataclass(frozen=True)
class Comparison:
    """One setting changed alone (settings.COMPARISONS): the pairs, and every run with it against every run without."""

    changed_value: float
    ratio: float | None  # changed_value / base_value, None when base_value is 0
    pairs: tuple[SeedPair, ...]
    base_models: tuple[Model, ...]
    changed_models: tuple[Model, ...]
    shared_lr: float | None  # the learning rate of every configuration compared, None when it is what changes
    changed_step_factor: float  # 1 / (1 − μ) of the changed configurations
    changed_always_ahead: bool  # every seed run of the changed configurations beat every base run
    changed_gap_larger: bool  # every changed configuration ends with a larger training-minus-validation gap (seed 42)
    train_lower_always: bool  # in every pair, the changed configuration had the lower training accuracy at every seed
    final_loss_lower_always: bool  # in every pair, the changed configuration's seed-42 run ended with the lower loss
    changed_peaks_within_swings: bool  # every changed configuration has fall_within_swings (seed 42)


@dataclass(frozen=True)
class ControlPair:
    """A control against one model of the study, seed by seed."""

    model: Model
    val_acc: SeedDifference
    final_loss: SeedDifference
    loss_rises: SeedDifference


@dataclass(frozen=True)
class Control:
    """A configuration trained to separate two causes (settings.CONTROLS): against the model it changes in one setting
    (`varies`) and against the model whose step or shrinkage per step it takes (`copies`)."""

    name: str
    lr: float
    momentum: float
    weight_decay: float
    decay_per_step: float  # η λ / (1 − μ), as for a Model
    seed_val_acc: Spread
    seed_train_acc: Spread
    seed_final_loss: Spread
    seed_loss_rises: Spread
    varies: ControlPair
    copies: ControlPair


@dataclass(frozen=True)
class CourseSetup:
    """A configuration trained once more, at the main seed, as the course's hints train (settings.COURSE_SETUPS)."""

    name: str
    model: Model  # the configuration it copies
    dtype: str
    shuffle: bool  # False: the training set read in its stored order every epoch
    train_acc: float
    val_acc: float
    final_loss: float
    val_images_below: int  # how many fewer validation images it gets right than the model's own run at that seed
    within_seed_range: bool  # its validation accuracy lies inside the model's range over the seeds
    same_accuracies: bool  # its training and validation accuracy equal those of the model's own run at that seed
    first_as_second: int  # validation images of the first class (cars) taken for the second (cats)
    second_as_first: int
    first_class_size: int  # validation images of the first class
    second_class_size: int
    class_p: float  # class_error_p of its validation confusion matrix
    tilts_to_second: bool  # the errors differ between the classes significantly, more of them taking cars for cats


@dataclass(frozen=True)
class CourseOutput:
    """The course's example output: the range of its validation accuracies and its run of one of our configurations."""

    val_low: float
    val_high: float
    model: Model | None  # our configuration with the settings of the run below, if we have one
    train_acc: float
    val_acc: float
    final_loss: float


@dataclass(frozen=True)
class SeedTest:
    """One seed-by-seed difference in validation accuracy, in the family that Holm's method adjusts together."""

    question: str  # the setting a comparison changes, or "control"
    first: str
    second: str
    val_acc: SeedDifference  # first − second
    holm_p: float
    significant: bool  # holm_p < SIGNIFICANCE


@dataclass(frozen=True)
class Selection:
    """The model with the highest validation accuracy, its one test evaluation, and how sure the choice is."""

    model: Model
    test_acc: float
    test_interval: Interval
    test_correct: int
    test_in_val_interval: bool  # the test accuracy lies in the selected model's validation interval
    first_as_second: int  # images of the first class (cars) taken for the second (cats)
    second_as_first: int
    first_class_size: int  # test images of the first class
    second_class_size: int
    class_p: float  # class_error_p: do the two classes' error rates differ?
    classes_differ: bool
    tests: tuple[PairedTest, ...]
    n_tests: int
    resolved: tuple[Model, ...]  # the models it beats with a Holm-adjusted p below SIGNIFICANCE
    unresolved: tuple[Model, ...]
    seed_winners: tuple[Model, ...]  # the configurations with the highest validation accuracy at some seed


@dataclass(frozen=True)
class ReferenceModel:
    """One configuration's accuracies in the reference report, and their distance from this run's seed means."""

    model: Model
    train_acc: float
    val_acc: float
    train_distance: float  # (reference − mean over seeds) / seed standard deviation
    val_distance: float  # the same, with the binomial spread of both reports' validation sets added


@dataclass(frozen=True)
class ReferencePair:
    """Two configurations that differ in weight decay only, as the reference report measured them (one run each)."""

    base: ReferenceModel
    changed: ReferenceModel
    train_lowered: bool  # the changed configuration has the lower training accuracy


@dataclass(frozen=True)
class Reference:
    """This run against the reference report."""

    selected: str
    same_selection: bool
    test_acc: float
    first_as_second: int
    second_as_first: int
    class_p: float
    classes_differ: bool
    models: tuple[ReferenceModel, ...]
    # A further run of ours lies within prediction_distance seed standard deviations of our mean with probability
    # CONFIDENCE: Student's t with seeds − 1 degrees of freedom, times sqrt(1 + 1 / seeds) for the mean's own error.
    prediction_distance: float
    train_above_ours: tuple[ReferenceModel, ...]  # its configurations that trained above our mean over seeds
    all_within_prediction: bool  # every training and validation distance is inside ± prediction_distance
    test_in_interval: bool  # the reference's test accuracy lies inside the interval of ours
    final_loss_model: Model
    final_loss: float
    loss_model_least_fitted: bool  # its lowest-loss model has the lowest training accuracy of those with momentum
    decay_pairs: tuple[ReferencePair, ...]  # the weight-decay pairs of settings.COMPARISONS


@dataclass(frozen=True)
class Exactness:
    """Whether the manual update gave bitwise the same runs as torch.optim.SGD."""

    all_identical: bool
    identical: int
    max_param_diff: float
    max_loss_diff: float
    second_seed_model: Model
    second_seed: int
    second_seed_identical: bool
    second_seed_max_param_diff: float
    second_seed_max_loss_diff: float


@dataclass(frozen=True)
class Analysis:
    """Everything the report quotes: settings and sizes as run, and the conclusions drawn from the measurements."""

    significance: float
    confidence: float
    seed: int
    seeds: tuple[int, ...]
    n_seeds: int
    n_models: int
    values_tried: dict[str, tuple[float, ...]]  # each setting's values over the configurations, ascending
    epochs: int
    batch_size: int
    sizes: dict[str, int]
    training_images: int  # train + validation: the official training set
    steps: int  # update steps of one training
    last_batch: int  # images in the last batch of an epoch
    mark_every: int
    loss_epochs: tuple[int, ...]  # the epochs of the loss table: those of the course's example output
    epoch_changes: int  # changes from one epoch's loss to the next
    torch_series: str  # the torch release series whose documentation the report cites, e.g. "2.14"
    mkl_docs_version: str  # the MKL release as its documentation's address spells it, e.g. "2024-2"
    numerics: dict
    baseline_predicts: str
    baseline_test_acc: float  # the share of the test images in the class the baseline always answers
    models: tuple[Model, ...]
    exactness: Exactness
    selection: Selection
    comparisons: dict[str, Comparison]
    controls: dict[str, Control]  # by name
    course_setups: dict[str, CourseSetup]  # by name
    course_output: CourseOutput
    seed_tests: dict[str, SeedTest]  # by "first − second": the comparisons' pairs, then each control's two
    reference: Reference
    checks: dict  # backprop_checks.json as measured


# --- The analysis ----------------------------------------------------------------------------------------------------


def load_analysis(figures: str | Path) -> Analysis:
    """The analysis of the run stored in a figures folder (results.json and backprop_checks.json)."""
    folder = Path(figures)
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    checks = json.loads((folder / "backprop_checks.json").read_text(encoding="utf-8"))
    return analyse(results, checks)


def analyse(results: dict, checks: dict) -> Analysis:
    """The study's conclusions from its measurements (results.json) and the gradient checks (backprop_checks.json)."""
    results, checks = Fields(results, "results.json"), Fields(checks, "backprop_checks.json")
    settings, sizes = results["settings"], results["data"]["sizes"]
    batches = math.ceil(sizes["train"] / settings["batch_size"])
    steps = settings["epochs"] * batches
    seed_runs = {model["name"]: model for model in results["seed_study"]["models"]}
    models = {
        run["name"]: model_record(run, seed_runs[run["name"]], results["selected"]["name"], sizes["val"], steps)
        for run in results["models"]
    }
    seeds = tuple(results["seed_study"]["seeds"])
    other = results["other_seed_exactness"]
    selection = selection_record(results, models)
    comparisons = {key: comparison_record(spec, models) for key, spec in COMPARISONS.items()}
    controls = {control["name"]: control_record(control, models) for control in results["controls"]}
    return Analysis(
        significance=SIGNIFICANCE,
        confidence=CONFIDENCE,
        seed=settings["seed"],
        seeds=seeds,
        n_seeds=len(seeds),
        n_models=len(models),
        values_tried={key: tuple(sorted({run[key] for run in results["models"]})) for key in SGD_SETTINGS},
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        sizes=dict(sizes),
        training_images=sizes["train"] + sizes["val"],
        steps=steps,
        last_batch=sizes["train"] - (batches - 1) * settings["batch_size"],
        mark_every=MARK_EVERY,
        epoch_changes=settings["epochs"] - 1,
        torch_series=".".join(results["numerics"]["torch"].split(".")[:2]),
        mkl_docs_version=results["numerics"]["mkl"].replace(".", "-"),
        loss_epochs=tuple(epoch for epoch in COURSE_EPOCHS if epoch <= settings["epochs"]),
        numerics=dict(results["numerics"]),
        baseline_predicts=results["baseline"]["predicts"],
        baseline_test_acc=baseline_test_acc(results),
        models=tuple(models.values()),
        exactness=Exactness(
            all_identical=all(run["bitwise_identical"] for run in results["models"]),
            identical=sum(run["bitwise_identical"] for run in results["models"]),
            max_param_diff=max(run["max_param_diff"] for run in results["models"]),
            max_loss_diff=max(run["max_loss_diff"] for run in results["models"]),
            second_seed_model=models[other["name"]],
            second_seed=other["seed"],
            second_seed_identical=other["bitwise_identical"],
            second_seed_max_param_diff=other["max_param_diff"],
            second_seed_max_loss_diff=other["max_loss_diff"],
        ),
        selection=selection,
        comparisons=comparisons,
        controls=controls,
        course_setups={
            setup["name"]: course_setup_record(setup, models, results["data"]["sizes"]["val"])
            for setup in results["course_setups"]
        },
        course_output=course_output_record(models),
        seed_tests=seed_tests(comparisons, controls),
        reference=reference_record(results, models, selection.test_interval),
        checks=checks,
    )


def baseline_test_acc(results: dict) -> float:
    """The test accuracy of always answering the baseline's class: that class's share of the test images."""
    rows = results["selected"]["confusion_matrix"]  # one row per true class, in the order of settings.CLASSES
    return sum(rows[CLASSES.index(results["baseline"]["predicts"])]) / sum(map(sum, rows))


class Fields(dict):
    """A JSON object whose missing field raises ValueError naming the file and the field, not a bare KeyError."""

    def __init__(self, data: dict, source: str, path: str = "") -> None:
        super().__init__({key: _fields(value, source, f"{path}{key}") for key, value in data.items()})
        self.source, self.path = source, path

    def __missing__(self, key: str) -> None:
        raise ValueError(
            f"{self.source} has no field {self.path}{key}: it is older than this analysis or damaged; "
            "re-run the notebook that writes it"
        )


def _fields(value: object, source: str, path: str) -> object:
    """`value` with every JSON object inside it a Fields, named by its path (models[3].sgd. for instance)."""
    if isinstance(value, dict):
        return Fields(value, source, f"{path}.")
    if isinstance(value, list):
        return [_fields(item, source, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def model_record(run: dict, seed_run: dict, selected_name: str, n_val: int, steps: int) -> Model:
    """One configuration's record from its run pair and its seed runs."""
    sgd, manual = run["sgd"], run["manual"]
    curve = sgd["val_acc_per_epoch"]
    changes = [later - earlier for earlier, later in itertools.pairwise(curve)]
    largest_drop, below_best = round(-min(changes) * n_val), round((max(curve) - curve[-1]) * n_val)
    step_factor = 1 / (1 - run["momentum"])
    decay_per_step = steady_decay_per_step(run)
    rises_by_seed = tuple(loss_rises(curve) for curve in seed_run["train_loss"])
    return Model(
        name=run["name"],
        lr=run["lr"],
        momentum=run["momentum"],
        weight_decay=run["weight_decay"],
        selected=run["name"] == selected_name,
        train_acc=sgd["train_acc"],
        val_acc=sgd["val_acc"],
        val_interval=wilson_interval(round(sgd["val_acc"] * n_val), n_val),
        final_loss=sgd["train_loss"][-1],
        gap=sgd["train_acc"] - sgd["val_acc"],
        losses=tuple(
            EpochLoss(epoch, sgd_loss, manual_loss, sgd_loss == manual_loss)
            for epoch, (sgd_loss, manual_loss) in enumerate(
                zip(sgd["train_loss"], manual["train_loss"], strict=True), 1
            )
            if epoch in COURSE_EPOCHS
        ),
        loss_rises=loss_rises(sgd["train_loss"]),
        largest_val_drop_images=largest_drop,
        best_epochs=tuple(epoch for epoch, value in enumerate(curve, 1) if value == max(curve)),
        below_best_images=below_best,
        fall_within_swings=below_best <= largest_drop,
        step_factor=step_factor,
        decay_per_step=decay_per_step,
        decay_over_training=shrinkage_by_decay_alone(run, steps),
        val_acc_by_seed=tuple(seed_run["val_acc"]),
        train_acc_by_seed=tuple(seed_run["train_acc"]),
        seed_val_acc=spread(seed_run["val_acc"]),
        seed_train_acc=spread(seed_run["train_acc"]),
        seed_final_loss=spread(seed_run["final_train_loss"]),
        final_loss_by_seed=tuple(seed_run["final_train_loss"]),
        loss_rises_by_seed=rises_by_seed,
        seed_loss_rises=spread(rises_by_seed),
        wins=seed_run["wins"],
    )


def steady_decay_per_step(config: dict) -> float:
    """η λ / (1 − μ): to first order, the share of a parameter weight decay alone removes per step, momentum steady."""
    return config["lr"] * config["weight_decay"] / (1 - config["momentum"])


def shrinkage_by_decay_alone(config: dict, steps: int) -> float:
    """The share of a parameter that weight decay removes over training if the loss gradient were zero: the
    torch.optim.SGD rule run on weight decay's gradient alone."""
    parameter, momentum_buffer = 1.0, None
    for _ in range(steps):
        gradient = config["weight_decay"] * parameter
        momentum_buffer = gradient if momentum_buffer is None else config["momentum"] * momentum_buffer + gradient
        parameter -= config["lr"] * momentum_buffer
    return 1 - parameter


def loss_rises(losses: Sequence[float]) -> int:
    """How many epochs end with a higher mean training loss than the epoch before."""
    return sum(later > earlier for earlier, later in itertools.pairwise(losses))


def course_setup_record(setup: dict, models: dict[str, Model], n_val: int) -> CourseSetup:
    """A run in the course's setup against the model it copies (its own run at the same seed, and its seed range),
    and how its validation errors split between the classes."""
    model = models[setup["copies"]]
    confusion = tuple(tuple(row) for row in setup["val_confusion_matrix"])
    (_, first_as_second), (second_as_first, _) = confusion
    class_p = class_error_p(confusion)
    return CourseSetup(
        name=setup["name"],
        model=model,
        dtype=setup["dtype"],
        shuffle=setup["shuffle"],
        train_acc=setup["train_acc"],
        val_acc=setup["val_acc"],
        final_loss=setup["train_loss"][-1],
        val_images_below=round((model.val_acc - setup["val_acc"]) * n_val),
        within_seed_range=model.seed_val_acc.min <= setup["val_acc"] <= model.seed_val_acc.max,
        same_accuracies=(setup["train_acc"], setup["val_acc"]) == (model.train_acc, model.val_acc),
        first_as_second=first_as_second,
        second_as_first=second_as_first,
        first_class_size=sum(confusion[0]),
        second_class_size=sum(confusion[1]),
        class_p=class_p,
        tilts_to_second=class_p < SIGNIFICANCE and first_as_second > second_as_first,
    )


def course_output_record(models: dict[str, Model]) -> CourseOutput:
    """The course's example output (COURSE_OUTPUT) beside our configuration with the same settings."""
    settings, final_loss = COURSE_OUTPUT["final_train_loss"]
    train_acc, val_acc = COURSE_OUTPUT["accuracies"][settings]
    same = (m for m in models.values() if (m.lr, m.momentum, m.weight_decay) == (COURSE_OUTPUT["lr"], *settings))
    val = [accuracies[1] for accuracies in COURSE_OUTPUT["accuracies"].values()]
    return CourseOutput(min(val), max(val), next(same, None), train_acc, val_acc, final_loss)


def seed_tests(comparisons: dict[str, Comparison], controls: dict[str, Control]) -> dict[str, SeedTest]:
    """Every validation comparison over seeds, with Holm's adjustment over all of them together."""
    rows = [
        (key.replace("_", " "), pair.changed.name, pair.base.name, pair.val_acc)
        for key, comparison in comparisons.items()
        for pair in comparison.pairs
    ]
    rows += [
        ("control", control.name, pair.model.name, pair.val_acc)
        for control in controls.values()
        for pair in (control.varies, control.copies)
    ]
    adjusted = holm_adjusted([difference.p for *_, difference in rows])
    return {
        f"{first} − {second}": SeedTest(question, first, second, difference, holm_p, holm_p < SIGNIFICANCE)
        for (question, first, second, difference), holm_p in zip(rows, adjusted, strict=True)
    }


def control_record(control: dict, models: dict[str, Model]) -> Control:
    """A control's seed runs against those of the model it varies and of the model it copies."""
    varies = models[control["varies"]]
    differing = [key for key in SGD_SETTINGS if control[key] != getattr(varies, key)]
    if len(differing) != 1:
        raise ValueError(f"{control['name']} must differ from {varies.name} in one setting, but differs in {differing}")
    rises = tuple(loss_rises(curve) for curve in control["train_loss"])

    def against(model: Model) -> ControlPair:
        return ControlPair(
            model=model,
            val_acc=seed_difference(control["val_acc"], model.val_acc_by_seed),
            final_loss=seed_difference(control["final_train_loss"], model.final_loss_by_seed),
            loss_rises=seed_difference(rises, model.loss_rises_by_seed),
        )

    return Control(
        name=control["name"],
        lr=control["lr"],
        momentum=control["momentum"],
        weight_decay=control["weight_decay"],
        decay_per_step=steady_decay_per_step(control),
        seed_val_acc=spread(control["val_acc"]),
        seed_train_acc=spread(control["train_acc"]),
        seed_final_loss=spread(control["final_train_loss"]),
        seed_loss_rises=spread(rises),
        varies=against(varies),
        copies=against(models[control["copies"]]),
    )


def seed_difference(first: Sequence[float], second: Sequence[float]) -> SeedDifference:
    """Seed by seed, how often `first` is above and below `second`, their mean difference and its paired t-test."""
    differences = [a - b for a, b in zip(first, second, strict=True)]
    above, below = sum(d > 0 for d in differences), sum(d < 0 for d in differences)
    mean, p = statistics.mean(differences), paired_t_p(differences)
    resolved = p < SIGNIFICANCE
    return SeedDifference(
        above=above,
        below=below,
        mean=mean,
        interval=paired_t_interval(differences),
        p=p,
        resolved=resolved,
        always_above=above == len(differences),
        always_below=below == len(differences),
    )


def selection_record(results: dict, models: dict[str, Model]) -> Selection:
    """The selected model's test evaluation, its paired tests against the others and the seed study's winners."""
    selected, sizes = results["selected"], results["data"]["sizes"]
    confusion = tuple(tuple(row) for row in selected["confusion_matrix"])
    (_, first_as_second), (second_as_first, _) = confusion
    raw = [exact_mcnemar_p(t["only_selected_right"], t["only_other_right"]) for t in results["paired_tests"]]
    tests = tuple(
        PairedTest(
            other=models[test["name"]],
            only_selected_right=test["only_selected_right"],
            only_other_right=test["only_other_right"],
            p=p,
            holm_p=holm_p,
            resolved=holm_p < SIGNIFICANCE,
        )
        for test, p, holm_p in zip(results["paired_tests"], raw, holm_adjusted(raw), strict=True)
    )
    class_p = class_error_p(confusion)
    test_correct = round(selected["test_acc"] * sizes["test"])
    model = models[selected["name"]]
    return Selection(
        model=model,
        test_acc=selected["test_acc"],
        test_interval=wilson_interval(test_correct, sizes["test"]),
        test_correct=test_correct,
        test_in_val_interval=model.val_interval.contains(selected["test_acc"]),
        first_as_second=first_as_second,
        second_as_first=second_as_first,
        first_class_size=sum(confusion[0]),
        second_class_size=sum(confusion[1]),
        class_p=class_p,
        classes_differ=class_p < SIGNIFICANCE,
        tests=tests,
        n_tests=len(tests),
        resolved=tuple(test.other for test in tests if test.resolved),
        unresolved=tuple(test.other for test in tests if not test.resolved),
        seed_winners=tuple(model for model in models.values() if model.wins > 0),
    )


def comparison_record(spec: dict, models: dict[str, Model]) -> Comparison:
    """One setting changed alone: each pair seed by seed, then every changed run against every base run."""
    setting, base, changed = spec["setting"], spec["base"], spec["changed"]
    for a, b in zip(base, changed, strict=True):
        differing = {key for key in SGD_SETTINGS if getattr(models[a], key) != getattr(models[b], key)}
        if differing != {setting}:
            raise ValueError(f"{a} and {b} must differ in {setting} only, but differ in {sorted(differing)}")
    by_seed = {name: models[name].val_acc_by_seed for name in (*base, *changed)}
    base_value, changed_value = getattr(models[base[0]], setting), getattr(models[changed[0]], setting)
    pairs = tuple(seed_pair(models[a], models[b]) for a, b in zip(base, changed, strict=True))
    return Comparison(
        changed_value=changed_value,
        ratio=changed_value / base_value if base_value else None,
        pairs=pairs,
        train_lower_always=all(pair.train_acc.always_below for pair in pairs),
        final_loss_lower_always=all(pair.final_loss_lower for pair in pairs),
        changed_peaks_within_swings=all(models[name].fall_within_swings for name in changed),
        base_models=tuple(models[name] for name in base),
        changed_models=tuple(models[name] for name in changed),
        shared_lr=None if setting == "lr" else models[base[0]].lr,
        changed_step_factor=models[changed[0]].step_factor,
        changed_always_ahead=min(min(by_seed[name]) for name in changed) > max(max(by_seed[name]) for name in base),
        changed_gap_larger=min(models[name].gap for name in changed) > max(models[name].gap for name in base),
    )


def seed_pair(base: Model, changed: Model) -> SeedPair:
    """`changed` against `base`, seed by seed, in training and in validation accuracy."""
    return SeedPair(
        base=base,
        changed=changed,
        final_loss_lower=changed.final_loss < base.final_loss,
        train_acc=seed_difference(changed.train_acc_by_seed, base.train_acc_by_seed),
        val_acc=seed_difference(changed.val_acc_by_seed, base.val_acc_by_seed),
    )


def reference_record(results: dict, models: dict[str, Model], test_interval: Interval) -> Reference:
    """How far the reference report's numbers lie from this run's (REFERENCE)."""
    n_val = results["data"]["sizes"]["val"]
    confusion = tuple(tuple(row) for row in REFERENCE["confusion_matrix"])
    (_, first_as_second), (second_as_first, _) = confusion
    compared = []
    for name, (train_acc, theirs) in REFERENCE["accuracies"].items():
        if name not in models:
            continue
        model, ours = models[name], models[name].seed_val_acc.mean
        # Each report measured validation accuracy on its own split of n_val images: both binomial spreads count.
        val_sd = math.sqrt(model.seed_val_acc.std**2 + ours * (1 - ours) / n_val + theirs * (1 - theirs) / n_val)
        train_distance = (train_acc - model.seed_train_acc.mean) / model.seed_train_acc.std
        compared.append(ReferenceModel(model, train_acc, theirs, train_distance, (theirs - ours) / val_sd))
    class_p = class_error_p(confusion)
    n_seeds = len(results["seed_study"]["seeds"])
    prediction = student_t_critical(n_seeds - 1) * math.sqrt(1 + 1 / n_seeds)
    train_distances = [abs(model.train_distance) for model in compared]
    val_distances = [abs(model.val_distance) for model in compared]
    loss_model, loss = REFERENCE["final_train_loss"]
    by_name = {entry.model.name: entry for entry in compared}
    with_momentum = tuple(entry for entry in compared if entry.model.momentum > 0)
    return Reference(
        selected=REFERENCE["selected"],
        same_selection=REFERENCE["selected"] == results["selected"]["name"],
        test_acc=REFERENCE["test_acc"],
        first_as_second=first_as_second,
        second_as_first=second_as_first,
        class_p=class_p,
        classes_differ=class_p < SIGNIFICANCE,
        models=tuple(compared),
        prediction_distance=prediction,
        train_above_ours=tuple(entry for entry in compared if entry.train_distance > 0),
        all_within_prediction=max(train_distances + val_distances) < prediction,
        test_in_interval=test_interval.contains(REFERENCE["test_acc"]),
        final_loss_model=models[loss_model],
        final_loss=loss,
        loss_model_least_fitted=min(with_momentum, key=lambda r: r.train_acc).model.name == loss_model,
        decay_pairs=tuple(
            ReferencePair(by_name[a], by_name[b], by_name[b].train_acc < by_name[a].train_acc)
            for a, b in zip(*(COMPARISONS["weight_decay"][side] for side in ("base", "changed")), strict=True)
            if a in by_name and b in by_name
        ),
    )
