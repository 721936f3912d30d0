"""The statistics of `uncertainty.py` against known values: Wilson intervals, exact McNemar tests, the paired test
and Holm's adjustment."""

import pytest
import torch

import uncertainty


def test_wilson_interval_of_a_known_case():
    # 8 right of 10: the textbook Wilson 95% interval is (0.4902, 0.9433).
    low, high = uncertainty.accuracy_interval(8 / 10, 10)
    assert round(low, 4) == 0.4902 and round(high, 4) == 0.9433
    low, high = uncertainty.accuracy_interval(921 / 1000, 1000)
    assert round(low, 4) == 0.9026 and round(high, 4) == 0.9362
    assert uncertainty.accuracy_interval(0.0, 20)[0] == 0.0 and uncertainty.accuracy_interval(1.0, 20)[
        1
    ] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"accuracy=1\.1, n=10"):
        uncertainty.accuracy_interval(1.1, 10)


def test_accuracy_interval_counts_the_right_answers():
    # An accuracy computed in floating point may fall a hair below its count: 1835 of 2000 must stay 1835, not 1834.
    assert uncertainty.accuracy_interval(0.9175 - 1e-12, 2000) == uncertainty.accuracy_interval(1835 / 2000, 2000)
    assert uncertainty.accuracy_interval(1834 / 2000, 2000) != uncertainty.accuracy_interval(1835 / 2000, 2000)


def test_exact_mcnemar_of_known_cases():
    # 1 against 9 discordant pairs: p = 2 (1 + 10) / 2^10.
    assert uncertainty.exact_mcnemar_p(1, 9) == 2 * 11 / 1024
    assert uncertainty.exact_mcnemar_p(9, 1) == 2 * 11 / 1024
    assert uncertainty.exact_mcnemar_p(5, 5) == 1.0
    assert uncertainty.exact_mcnemar_p(0, 0) == 1.0
    assert uncertainty.exact_mcnemar_p(0, 6) == 2 / 64


def test_paired_test_counts_the_discordant_images():
    selected = torch.tensor([True, True, True, False, False, True])
    other = torch.tensor([True, False, False, True, False, True])
    test = uncertainty.paired_test("Model 9", selected, other)
    assert test == {"name": "Model 9", "only_selected_right": 2, "only_other_right": 1, "p_value": 1.0}


def test_holm_adjusts_in_the_order_given():
    # Smallest first, multiplied by 4, 3, 2, 1; 0.04 · 1 is raised to the 0.06 before it, as the adjusted values
    # must not fall. The products are the function's own, so they are compared exactly.
    assert uncertainty.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == [3 * 0.01, 2 * 0.03, 2 * 0.03, 4 * 0.005]
    assert uncertainty.holm_adjusted([0.5, 0.6]) == [1.0, 1.0]


def test_sign_test_counts_the_tail_of_a_fair_coin():
    assert uncertainty.sign_test_p(5, 5) == 1 / 32
    assert uncertainty.sign_test_p(2, 4) == 11 / 16
    assert uncertainty.sign_test_p(0, 3) == 1.0
