"""The report's numbers and words: what `project1.ipynb` derives from its results, and the Markdown templates of
report/templates filled with them.

`helpers.py` trains and measures; this module holds the statistics of the report's uncertainty answers (Wilson
intervals, exact McNemar tests, Holm's adjustment) and turns a finished run's results into the numbers and paragraphs
that the report quotes, so that every number in the prose comes from the run.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

import jinja2
from torch import Tensor

TEMPLATES = Path(__file__).resolve().parent / "templates"
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


Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def accuracy_interval(accuracy: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95% for the default z) of an accuracy measured on n samples, from its count of right
    answers: round(accuracy · n), as a float accuracy can fall a hair below its count."""
    successes = round(accuracy * n)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"accuracy must be a share of n >= 1 samples, got accuracy={accuracy}, n={n}")
    p = successes / n
    shrink = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / shrink
    half_width = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / shrink
    return centre - half_width, centre + half_width


def exact_mcnemar_p(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against a fair coin."""
    n = only_first_right + only_second_right
    smaller = min(only_first_right, only_second_right)
    tail = sum(math.comb(n, k) for k in range(smaller + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_test(name: str, selected_correct: Tensor, other_correct: Tensor) -> dict:
    """Exact McNemar test of the selected model against another one on the same images (boolean per image)."""
    only_selected_right = int((selected_correct & ~other_correct).sum())
    only_other_right = int((other_correct & ~selected_correct).sum())
    return {
        "name": name,
        "only_selected_right": only_selected_right,
        "only_other_right": only_other_right,
        "p_value": exact_mcnemar_p(only_selected_right, only_other_right),
    }


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: a family of tests judged at one error rate."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running_max = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running_max = max(running_max, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running_max
    return adjusted


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


def _decimals(value: float, digits: int = 3, signed: bool = False) -> str:
    """A number with fixed decimals and a true minus sign (and a plus sign when `signed`)."""
    text = f"{value:{'+' if signed else ''}.{digits}f}"
    return text.replace("-", "−")


def _scientific(value: float, digits: int = 1) -> str:
    """A number as inline LaTeX, m × 10^e."""
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"


def prose(template: str, **numbers: object) -> str:
    """The Markdown template report/templates/`template`, with the run's numbers filled in."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        d=_decimals,
        sci=_scientific,
        pct=lambda value, digits=1: f"{100 * value:.{digits}f}%",
        n=lambda count: f"{count:,}",
    )
    return environment.get_template(template).render(**numbers).strip() + "\n"
