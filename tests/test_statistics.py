"""The report's statistics against known values: Wilson intervals, exact McNemar tests and the paired test."""

import pytest
import torch

from report import facts


def test_wilson_interval_of_a_known_case():
    # 8 right of 10: the textbook Wilson 95% interval is (0.4902, 0.9433).
    low, high = facts.accuracy_interval(8 / 10, 10)
    assert round(low, 4) == 0.4902 and round(high, 4) == 0.9433
    low, high = facts.accuracy_interval(921 / 1000, 1000)
    assert round(low, 4) == 0.9026 and round(high, 4) == 0.9362
    assert facts.accuracy_interval(0.0, 20)[0] == 0.0 and facts.accuracy_interval(1.0, 20)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"accuracy=1\.1, n=10"):
        facts.accuracy_interval(1.1, 10)


def test_accuracy_interval_counts_the_right_answers():
    # An accuracy computed in floating point may fall a hair below its count: 1835 of 2000 must stay 1835, not 1834.
    assert facts.accuracy_interval(0.9175 - 1e-12, 2000) == facts.accuracy_interval(1835 / 2000, 2000)
    assert facts.accuracy_interval(1834 / 2000, 2000) != facts.accuracy_interval(1835 / 2000, 2000)


def test_exact_mcnemar_of_known_cases():
    # 1 against 9 discordant pairs: p = 2 (1 + 10) / 2^10.
    assert facts.exact_mcnemar_p(1, 9) == 2 * 11 / 1024
    assert facts.exact_mcnemar_p(9, 1) == 2 * 11 / 1024
    assert facts.exact_mcnemar_p(5, 5) == 1.0
    assert facts.exact_mcnemar_p(0, 0) == 1.0
    assert facts.exact_mcnemar_p(0, 6) == 2 / 64


def test_paired_test_counts_the_discordant_images():
    selected = torch.tensor([True, True, True, False, False, True])
    other = torch.tensor([True, False, False, True, False, True])
    test = facts.paired_test("Model 9", selected, other)
    assert test == {"name": "Model 9", "only_selected_right": 2, "only_other_right": 1, "p_value": 1.0}
