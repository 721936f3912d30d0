"""The numbers the report quotes beyond what the run measured, derived from figures/results.json by one pure
function, `report_facts`, each time the report is rendered (nothing derived is stored), and how numbers are written.

The statistics themselves (Wilson intervals, exact McNemar tests, Holm's adjustment) live on the study side, in
uncertainty.py, which the notebook's analysis uses too. REFERENCE holds the reference report's published numbers.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence

from uncertainty import accuracy_interval, binomial_tail_p, exact_mcnemar_p, holm_adjusted, sign_test_p

# The reference report's numbers (3 decimals): per model train and validation accuracy, its selected model's test
# accuracy and confusion matrix, and the one final training loss it quotes.
REFERENCE = {
    "models": {
        "Model 1": {"train_acc": 0.897, "val_acc": 0.885},
        "Model 2": {"train_acc": 0.893, "val_acc": 0.885},
        "Model 3": {"train_acc": 0.982, "val_acc": 0.919},
        "Model 4": {"train_acc": 0.983, "val_acc": 0.921},
        "Model 5": {"train_acc": 0.976, "val_acc": 0.913},
    },
    "selected": "Model 4",
    "test_acc": 0.917,
    "confusion_matrix": [[913, 87], [79, 921]],
    "final_train_loss": {"Model 5": 0.031},
}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (n − 1), smallest and largest of a few values."""
    return {"mean": statistics.mean(values), "std": statistics.stdev(values), "min": min(values), "max": max(values)}


def _binomial_sd(accuracy: float, n: int) -> float:
    """Standard deviation of an accuracy measured on n independent images."""
    return math.sqrt(accuracy * (1 - accuracy) / n)


# The epochs at which the course's example output (gradient_descent_output.txt) lists the training loss.
COURSE_OUTPUT_EPOCHS = (1, 5, 10, 15, 20, 25, 30)


def _named(models: list[dict], **settings: float) -> str | None:
    """The name of the first configuration with these settings, or None."""
    return next((m["name"] for m in models if all(m[key] == value for key, value in settings.items())), None)


def design(models: list[dict]) -> dict:
    """Which configurations differ in one setting only: the pairs the answers (d), (e) and (g) compare."""
    base = models[0]
    lr, momentum = base["lr"], max(m["momentum"] for m in models)
    larger_lr = next((m for m in models if m["lr"] > lr), None)
    return {
        "base_lr": lr,
        "momentum": momentum,
        "momentum_pair": (
            _named(models, lr=lr, momentum=0.0, weight_decay=0.0),
            _named(models, lr=lr, momentum=momentum, weight_decay=0.0),
        ),
        "decay_pairs": [
            pair
            for mu in (0.0, momentum)
            for wd in sorted({m["weight_decay"] for m in models if m["weight_decay"] > 0})[:1]
            if all(
                pair := (
                    _named(models, lr=lr, momentum=mu, weight_decay=0.0),
                    _named(models, lr=lr, momentum=mu, weight_decay=wd),
                )
            )
        ],
        "step_pair": None
        if larger_lr is None
        else (
            _named(models, lr=lr, momentum=larger_lr["momentum"], weight_decay=larger_lr["weight_decay"]),
            larger_lr["name"],
        ),
        "lr_ratio": None if larger_lr is None else larger_lr["lr"] / lr,
    }


def report_facts(results: dict) -> dict:
    """The numbers the report's prose quotes that are derived from the run rather than measured by it."""
    settings, sizes = results["settings"], results["data"]["sizes"]
    steps = settings["epochs"] * math.ceil(sizes["train"] / settings["batch_size"])
    seeds = {model["name"]: model for model in results["seed_study"]["models"]}
    models = {}
    for model in results["models"]:
        name, losses, val_curve = model["name"], model["sgd"]["train_loss"], model["sgd"]["val_acc_per_epoch"]
        val_changes = [later - earlier for earlier, later in itertools.pairwise(val_curve)]
        effective_lr = model["lr"] / (1 - model["momentum"])
        decay_per_step = effective_lr * model["weight_decay"]
        models[name] = {
            "gap": model["sgd"]["train_acc"] - model["sgd"]["val_acc"],
            "loss_rises": sum(later > earlier for earlier, later in itertools.pairwise(losses)),
            "val_drops": sum(change < 0 for change in val_changes),
            "val_drop_total": -sum(change for change in val_changes if change < 0),
            "largest_val_drop": -min(val_changes),
            "largest_val_drop_images": round(-min(val_changes) * sizes["val"]),
            "best_epochs": [epoch for epoch, value in enumerate(val_curve, 1) if value == max(val_curve)],
            "best_val_acc": max(val_curve),
            "val_acc_ci": list(accuracy_interval(model["sgd"]["val_acc"], sizes["val"])),
            "step_factor": 1 / (1 - model["momentum"]),
            "effective_lr": effective_lr,
            "decay_per_step": decay_per_step,
            "decay_over_training": 1 - (1 - decay_per_step) ** steps,
            "seed_val_acc": spread(seeds[name]["val_acc"]),
            "seed_train_acc": spread(seeds[name]["train_acc"]),
            "seed_final_loss": spread(seeds[name]["final_train_loss"]),
        }
    adjusted = holm_adjusted([test["p_value"] for test in results["paired_tests"]])
    pairs_of_models = math.comb(len(results["models"]), 2)
    paired = [
        {
            **test,
            "holm_p": holm_p,
            "all_pairs_p": min(1.0, test["p_value"] * pairs_of_models),
        }
        for test, holm_p in zip(results["paired_tests"], adjusted, strict=True)
    ]
    plan = design(results["models"])
    with_momentum = [m["name"] for m in results["models"] if m["momentum"] > 0 and m["lr"] == plan["base_lr"]]
    without_momentum = [m["name"] for m in results["models"] if m["momentum"] == 0 and m["lr"] == plan["base_lr"]]
    n_seeds = len(results["seed_study"]["seeds"])
    runs_with, runs_without = len(with_momentum) * n_seeds, len(without_momentum) * n_seeds
    (_, cars_as_cats), (cats_as_cars, _) = results["selected"]["confusion_matrix"]
    return {
        "steps": steps,
        "training_images": sizes["train"] + sizes["val"],
        "last_batch": sizes["train"] % settings["batch_size"] or settings["batch_size"],
        "test_images_ahead_of_reference": round(
            (results["selected"]["test_acc"] - REFERENCE["test_acc"]) * sizes["test"]
        ),
        "test_correct": round(results["selected"]["test_acc"] * sizes["test"]),
        "test_per_class": [sum(row) for row in results["selected"]["confusion_matrix"]],
        "table_epochs": [epoch for epoch in COURSE_OUTPUT_EPOCHS if epoch <= settings["epochs"]],
        "models": models,
        "design": plan,
        "paired_tests": paired,
        "pairs_of_models": pairs_of_models,
        "momentum_at_equal_lr": {
            "lr": plan["base_lr"],
            "with": with_momentum,
            "without": without_momentum,
            "runs_with": runs_with,
            "runs_without": runs_without,
            "lowest_with": min(min(seeds[name]["val_acc"]) for name in with_momentum),
            "highest_without": max(max(seeds[name]["val_acc"]) for name in without_momentum),
            "seeds_all_ahead": (
                all_ahead := sum(
                    min(seeds[a]["val_acc"][i] for a in with_momentum)
                    > max(seeds[b]["val_acc"][i] for b in without_momentum)
                    for i in range(n_seeds)
                )
            ),
            # The seed is the unit: each seed is one paired comparison, a fair coin if momentum made no difference.
            "sign_test_p": sign_test_p(all_ahead, n_seeds),
            # The stricter event seen at each seed, every run with momentum ahead of every run without, has this
            # chance at one seed if the configurations were exchangeable.
            "ordered_chance": (
                ordered := 1 / math.comb(len(with_momentum) + len(without_momentum), len(with_momentum))
            ),
            "exchangeable_p": binomial_tail_p(all_ahead, n_seeds, ordered),
        },
        "decay_pairs": [
            _paired_by_seed(seeds[a], seeds[b]) | {"without": a, "with": b} for a, b in plan["decay_pairs"]
        ],
        "reference": {
            **REFERENCE,
            "distance": _distance_from_reference(REFERENCE["models"], models, sizes),
            "class_p_value": exact_mcnemar_p(REFERENCE["confusion_matrix"][0][1], REFERENCE["confusion_matrix"][1][0]),
        },
        "class_errors": {
            "cars_as_cats": cars_as_cats,
            "cats_as_cars": cats_as_cars,
            "total": cars_as_cats + cats_as_cars,
            "p_value": exact_mcnemar_p(cars_as_cats, cats_as_cars),
        },
    }


def _paired_by_seed(first: dict, second: dict) -> dict:
    """How two configurations' seed runs compare, seed by seed: at how many seeds the second is lower in training
    accuracy and higher in validation accuracy, the ties, and one-sided sign tests of those counts (ties dropped)."""
    train = [(b > a) - (b < a) for a, b in zip(first["train_acc"], second["train_acc"], strict=True)]
    val = [(b > a) - (b < a) for a, b in zip(first["val_acc"], second["val_acc"], strict=True)]
    untied_train, untied_val = sum(d != 0 for d in train), sum(d != 0 for d in val)
    return {
        "n": len(val),
        "train_lower": train.count(-1),
        "train_untied": untied_train,
        "train_lower_p": sign_test_p(train.count(-1), untied_train),
        "val_higher": val.count(1),
        "val_untied": untied_val,
        "val_higher_p": sign_test_p(val.count(1), untied_val),
    }


def _distance_from_reference(reference: dict, models: dict, sizes: dict) -> dict:
    """How far each reference accuracy lies from this run's mean over the seeds, in standard deviations of the
    difference. Validation adds to the seed spread the binomial spread of each report's own split of images; training
    accuracy is measured on the images the model was fitted to, so it has the seed spread alone."""
    distances = {}
    for name, numbers in reference.items():
        if name not in models:
            continue
        seeds = {split: models[name][f"seed_{split}_acc"] for split in ("train", "val")}
        ours, theirs = seeds["val"]["mean"], numbers["val_acc"]
        val_sd = math.sqrt(
            seeds["val"]["std"] ** 2 + _binomial_sd(ours, sizes["val"]) ** 2 + _binomial_sd(theirs, sizes["val"]) ** 2
        )
        distances[name] = {
            "train": (numbers["train_acc"] - seeds["train"]["mean"]) / seeds["train"]["std"],
            "val": (theirs - ours) / val_sd,
        }
    return distances


def decimals(value: float, digits: int = 3, signed: bool = False) -> str:
    """A number with fixed decimals and a true minus sign (and a plus sign when `signed`)."""
    text = f"{value:{'+' if signed else ''}.{digits}f}"
    return text.replace("-", "−")


def in_words(number: float) -> str:
    """A whole number from two to ten in words ("five"), any other number in digits."""
    words = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    return words[int(number) - 2] if number == int(number) and 2 <= number <= 10 else f"{number:g}"


def plain(value: float) -> str:
    """A setting as it is usually written: 0, 0.85, 0.01."""
    return f"{value:g}"


def percent(value: float, digits: int = 1) -> str:
    """A share as a percentage with fixed decimals."""
    return f"{100 * value:.{digits}f}%"


def scientific(value: float, digits: int = 1) -> str:
    """A number as inline LaTeX, m × 10^e, or 10^e alone when m is 1."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if digits == 0 and float(mantissa) == 1:
        return f"$10^{{{int(exponent)}}}$"
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"
