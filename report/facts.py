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

from uncertainty import accuracy_interval, exact_mcnemar_p, holm_adjusted

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


def report_facts(results: dict) -> dict:
    """The numbers the report's prose quotes that are derived from the run rather than measured by it."""
    settings, sizes = results["settings"], results["data"]["sizes"]
    steps = settings["epochs"] * math.ceil(sizes["train"] / settings["batch_size"])
    seeds = {model["name"]: model for model in results["seed_study"]["models"]}
    selected = results["selected"]["name"]
    models = {}
    for model in results["models"]:
        losses, val_curve = model["sgd"]["train_loss"], model["sgd"]["val_acc_per_epoch"]
        val_changes = [later - earlier for earlier, later in itertools.pairwise(val_curve)]
        effective_lr = model["lr"] / (1 - model["momentum"])
        decay_per_step = effective_lr * model["weight_decay"]
        models[model["name"]] = {
            "gap": model["sgd"]["train_acc"] - model["sgd"]["val_acc"],
            "loss_rises": sum(later > earlier for earlier, later in itertools.pairwise(losses)),
            "val_drops": sum(change < 0 for change in val_changes),
            "val_drop_total": -sum(change for change in val_changes if change < 0),
            "largest_val_drop": -min(val_changes),
            "largest_val_drop_images": round(-min(val_changes) * sizes["val"]),
            "best_epoch": 1 + val_curve.index(max(val_curve)),
            "best_val_acc": max(val_curve),
            "val_acc_ci": list(accuracy_interval(model["sgd"]["val_acc"], sizes["val"])),
            "step_factor": 1 / (1 - model["momentum"]),
            "effective_lr": effective_lr,
            "decay_per_step": decay_per_step,
            "decay_over_training": 1 - (1 - decay_per_step) ** steps,
            "seed_val_acc": spread(seeds[model["name"]]["val_acc"]),
            "seed_train_acc": spread(seeds[model["name"]]["train_acc"]),
            "seed_gap": spread(
                [t - v for t, v in zip(seeds[model["name"]]["train_acc"], seeds[model["name"]]["val_acc"], strict=True)]
            ),
            "seed_final_loss": spread(seeds[model["name"]]["final_train_loss"]),
        }
    adjusted = holm_adjusted([test["p_value"] for test in results["paired_tests"]])
    paired = [
        {
            **test,
            "holm_p": holm_p,
            "all_pairs_p": min(1.0, test["p_value"] * math.comb(len(results["models"]), 2)),
            "seeds_ahead": sum(
                s > o for s, o in zip(seeds[selected]["val_acc"], seeds[test["name"]]["val_acc"], strict=True)
            ),
        }
        for test, holm_p in zip(results["paired_tests"], adjusted, strict=True)
    ]
    base_lr = results["models"][0]["lr"]
    with_momentum = [m["name"] for m in results["models"] if m["momentum"] > 0 and m["lr"] == base_lr]
    without_momentum = [m["name"] for m in results["models"] if m["momentum"] == 0 and m["lr"] == base_lr]
    (_, cars_as_cats), (cats_as_cars, _) = results["selected"]["confusion_matrix"]
    val_acc = results["selected"]["val_acc"]
    return {
        "steps": steps,
        "training_images": sizes["train"] + sizes["val"],
        "test_correct": round(results["selected"]["test_acc"] * sizes["test"]),
        "models": models,
        "paired_tests": paired,
        "val_acc_sd": _binomial_sd(val_acc, sizes["val"]),
        "momentum_at_equal_lr": {
            "lr": base_lr,
            "with": with_momentum,
            "without": without_momentum,
            "runs_with": len(with_momentum) * len(results["seed_study"]["seeds"]),
            "runs_without": len(without_momentum) * len(results["seed_study"]["seeds"]),
            "lowest_with": min(min(seeds[name]["val_acc"]) for name in with_momentum),
            "highest_without": max(max(seeds[name]["val_acc"]) for name in without_momentum),
        },
        "reference": {**REFERENCE, "seed_sds_away": _distance_from_seeds(REFERENCE["models"], models)},
        "class_errors": {
            "cars_as_cats": cars_as_cats,
            "cats_as_cars": cats_as_cars,
            "total": cars_as_cats + cats_as_cars,
            "p_value": exact_mcnemar_p(cars_as_cats, cats_as_cars),
        },
    }


def _distance_from_seeds(reference: dict, models: dict) -> dict:
    """How many seed standard deviations each reference accuracy lies from this run's mean over the seeds."""
    return {
        name: {
            split: (numbers[f"{split}_acc"] - models[name][f"seed_{split}_acc"]["mean"])
            / models[name][f"seed_{split}_acc"]["std"]
            for split in ("train", "val")
        }
        for name, numbers in reference.items()
        if name in models
    }


def decimals(value: float, digits: int = 3, signed: bool = False) -> str:
    """A number with fixed decimals and a true minus sign (and a plus sign when `signed`)."""
    text = f"{value:{'+' if signed else ''}.{digits}f}"
    return text.replace("-", "−")


def percent(value: float, digits: int = 1) -> str:
    """A share as a percentage with fixed decimals."""
    return f"{100 * value:.{digits}f}%"


def scientific(value: float, digits: int = 1) -> str:
    """A number as inline LaTeX, m × 10^e."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"
