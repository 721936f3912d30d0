"""How sure the study's numbers are: Wilson intervals for measured accuracies, exact McNemar tests of two networks on
the same images, and Holm's adjustment for a family of such tests. `project1.ipynb` uses them in its analysis; the
report quotes what they gave."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

Z_95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def accuracy_interval(accuracy: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95% for the default z) of an accuracy on n samples, from its count round(accuracy · n)."""
    successes = round(accuracy * n)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"accuracy must be a share of n >= 1 samples, got accuracy={accuracy}, n={n}")
    p, shrink = successes / n, 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / shrink
    half_width = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / shrink
    return centre - half_width, centre + half_width


def exact_mcnemar_p(only_first_right: int, only_second_right: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of the discordant pairs against a fair coin."""
    n = only_first_right + only_second_right
    tail = sum(math.comb(n, k) for k in range(min(only_first_right, only_second_right) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_test(name: str, selected_correct: Tensor, other_correct: Tensor) -> dict:
    """Exact McNemar test of the selected model against another one on the same images (boolean per image)."""
    only_selected_right = int((selected_correct & ~other_correct).sum())
    only_other_right = int((other_correct & ~selected_correct).sum())
    p_value = exact_mcnemar_p(only_selected_right, only_other_right)
    return {
        "name": name,
        "only_selected_right": only_selected_right,
        "only_other_right": only_other_right,
        "p_value": p_value,
    }


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: a family of tests judged at one error rate."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running_max = [1.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running_max = max(running_max, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running_max
    return adjusted


def binomial_tail_p(successes: int, n: int, chance: float) -> float:
    """One-sided: the probability of `successes` or more in n independent trials that each succeed with `chance`."""
    return sum(math.comb(n, k) * chance**k * (1 - chance) ** (n - k) for k in range(successes, n + 1))


def sign_test_p(ahead: int, n: int) -> float:
    """One-sided sign test: the chance of `ahead` or more wins in n paired comparisons if each were a fair coin."""
    return binomial_tail_p(ahead, n, 0.5)
