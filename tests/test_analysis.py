"""The analysis stage: its statistics against known values, its records on a hand-made run whose every derived number
is worked out below by hand, and its refusal of a results file it cannot read."""

import copy
import json
import math
import re
from pathlib import Path

import pytest

import analysis
from settings import COMPARISONS, CONFIGS

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def test_wilson_interval_of_known_cases():
    # 8 right of 10: the textbook Wilson 95% interval is (0.4902, 0.9433).
    interval = analysis.wilson_interval(8, 10)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.4902, 0.9433)
    interval = analysis.wilson_interval(921, 1000)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.9026, 0.9362)
    assert analysis.wilson_interval(0, 20).low == pytest.approx(0.0, abs=1e-15) and analysis.wilson_interval(
        20, 20
    ).high == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"successes=11, n=10"):
        analysis.wilson_interval(11, 10)


def test_exact_mcnemar_of_known_cases():
    # 1 against 9 discordant pairs: p = 2 (1 + 10) / 2^10, whichever way round.
    assert analysis.exact_mcnemar_p(1, 9) == analysis.exact_mcnemar_p(9, 1) == 2 * 11 / 1024
    assert analysis.exact_mcnemar_p(5, 5) == analysis.exact_mcnemar_p(0, 0) == 1.0
    assert analysis.exact_mcnemar_p(0, 6) == 2 / 64


def test_weight_decay_alone_follows_the_sgd_rule():
    # Without momentum each step keeps 1 − ηλ = 0.95 of the parameter.
    assert analysis.shrinkage_by_decay_alone({"lr": 0.1, "momentum": 0.0, "weight_decay": 0.5}, 3) == pytest.approx(
        1 - 0.95**3
    )
    # η = 0.1, μ = 0.5, λ = 1: the buffer starts at 1, θ = 0.9; then 0.5 · 1 + 0.9 = 1.4, θ = 0.9 − 0.14 = 0.76.
    assert analysis.shrinkage_by_decay_alone({"lr": 0.1, "momentum": 0.5, "weight_decay": 1.0}, 2) == pytest.approx(
        0.24
    )


def test_binomial_tail_of_known_cases():
    # At least 2 of 5 at chance 1/3: 1 − (2/3)^5 − 5 (1/3)(2/3)^4 = 1 − 32/243 − 80/243 = 131/243.
    assert analysis.binomial_tail(2, 5, 1 / 3) == pytest.approx(131 / 243)
    assert analysis.binomial_tail(0, 4, 0.3) == pytest.approx(1.0)
    assert analysis.binomial_tail(3, 3, 0.5) == pytest.approx(1 / 8)


def test_holm_adjusts_in_the_order_given():
    # Smallest first, multiplied by 4, 3, 2, 1; 0.04 · 1 is raised to the 0.06 before it, as adjusted values must not
    # fall. The products are the function's own, so they are compared exactly.
    assert analysis.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == [3 * 0.01, 2 * 0.03, 2 * 0.03, 4 * 0.005]
    assert analysis.holm_adjusted([0.5, 0.6]) == [1.0, 1.0]


def one_df_p(t: float) -> float:
    """The two-sided tail of Student's t with one degree of freedom, a Cauchy distribution: 1 − (2/π) atan |t|."""
    return 1 - 2 / math.pi * math.atan(abs(t))


def test_student_t_tails_of_known_cases():
    # Textbook critical values at the two-sided 5% level, and the closed forms for one and two degrees of freedom.
    for df, critical in ((4, 2.776445), (10, 2.228139), (29, 2.045230)):
        assert analysis.student_t_p(critical, df) == pytest.approx(0.05, abs=1e-6)
        assert analysis.student_t_p(-critical, df) == analysis.student_t_p(critical, df)
    assert analysis.student_t_p(3.0, 1) == pytest.approx(one_df_p(3.0))
    assert analysis.student_t_p(1.5, 2) == pytest.approx(1 - 1.5 / math.sqrt(2 + 1.5**2))
    assert analysis.student_t_p(0.0, 5) == 1.0


def test_paired_t_test_of_known_cases():
    # Differences 0.2 and 0.25: mean 0.225, standard error 0.025, t = 9 on one degree of freedom.
    assert analysis.paired_t_p([0.7 - 0.5, 0.8 - 0.55]) == pytest.approx(one_df_p(9.0))
    assert analysis.paired_t_p([0.1, 0.1]) == 0.0, "the same non-zero difference at every seed"
    assert analysis.paired_t_p([0.0, 0.0]) == 1.0


def test_student_t_critical_values_and_the_paired_interval():
    for df, critical in ((1, 12.706205), (4, 2.776445), (10, 2.228139)):
        assert analysis.student_t_critical(df) == pytest.approx(critical, abs=1e-5)
    # Differences 0.2 and 0.25: mean 0.225, standard error 0.025, one degree of freedom.
    interval = analysis.paired_t_interval([0.2, 0.25])
    assert (interval.low, interval.high) == pytest.approx((0.225 - 12.706205 * 0.025, 0.225 + 12.706205 * 0.025))


def hand_made_results() -> dict:
    """The five configurations of settings.CONFIGS, three epochs, two seeds, 100 validation and 100 test images."""
    curves = [  # training loss per epoch, validation accuracy per epoch, training accuracy at the end
        ([1.0, 0.9, 0.8], [0.4, 0.5, 0.5], 0.6),
        ([1.0, 0.95, 0.9], [0.4, 0.45, 0.52], 0.55),
        ([1.0, 1.2, 0.6], [0.6, 0.8, 0.7], 0.9),
        ([0.9, 0.7, 0.75], [0.75, 0.7, 0.75], 0.85),
        ([0.8, 0.9, 1.0], [0.7, 0.6, 0.6], 0.7),
    ]
    models = []
    for config, (loss, per_epoch, train) in zip(CONFIGS, curves, strict=True):
        run = {"train_loss": loss, "val_acc_per_epoch": per_epoch, "train_acc": train, "val_acc": per_epoch[-1]}
        models.append({**config, "sgd": run, "manual": run, "max_param_diff": 0.0, "max_loss_diff": 0.0})
        models[-1]["bitwise_identical"] = True
    seeds = [  # validation accuracy and training accuracy at seeds 42 and 1
        ([0.5, 0.55], [0.6, 0.7]),
        ([0.52, 0.5], [0.55, 0.6]),
        ([0.7, 0.8], [0.9, 0.8]),
        ([0.75, 0.65], [0.85, 0.95]),
        ([0.6, 0.9], [0.7, 0.9]),
    ]
    seed_study = [
        {"name": config["name"], "val_acc": val, "train_acc": train, "final_train_loss": [0.5, 0.7], "wins": 0}
        for config, (val, train) in zip(CONFIGS, seeds, strict=True)
    ]
    for model, run in zip(seed_study, models, strict=True):  # seed 42's curve, then one that rises twice
        model["train_loss"] = [run["sgd"]["train_loss"], [0.6, 0.8, 0.9]]
    # Model 2 at five times its learning rate, against Model 2 and Model 3.
    control = {"name": "Control 1", "lr": 0.05, "momentum": 0.0, "weight_decay": 0.01}
    control |= {"varies": "Model 2", "copies": "Model 3"}
    control |= {"val_acc": [0.7, 0.85], "train_acc": [0.8, 0.9], "final_train_loss": [0.65, 0.4]}
    control["train_loss"] = [[1.0, 0.9, 0.65], [1.0, 0.8, 0.4]]
    return {
        "settings": {"seed": 42, "epochs": 3, "batch_size": 4, "classes": ["automobile", "cat"]},
        "numerics": {"mkl": "2024.2", "mkl_mode": "COMPATIBLE", "max_threads": 2, "torch": "2.14.1"},
        "data": {"sizes": {"train": 10, "val": 100, "test": 100}},
        "baseline": {"predicts": "automobile", "val_acc": 0.5},
        "models": models,
        "selected": {"name": "Model 4", "test_acc": 0.87, "confusion_matrix": [[40, 10], [3, 47]]},
        "paired_tests": [
            {"name": "Model 1", "only_selected_right": 11, "only_other_right": 1},
            {"name": "Model 2", "only_selected_right": 12, "only_other_right": 0},
            {"name": "Model 3", "only_selected_right": 5, "only_other_right": 4},
            {"name": "Model 5", "only_selected_right": 6, "only_other_right": 5},
        ],
        "seed_study": {"seeds": [42, 1], "models": seed_study},
        "controls": [control],
        "course_setups": [  # Model 1 (validation 0.5 at seed 42, 0.5 to 0.55 over the seeds), twice more
            {**CONFIGS[0], "name": "Float64 run", "dtype": "float64", "shuffle": True, "copies": "Model 1"}
            | {
                "train_loss": [1.0, 0.9, 0.8],
                "train_acc": 0.6,
                "val_acc": 0.52,
                "val_confusion_matrix": [[26, 24], [24, 26]],
            },
            {**CONFIGS[0], "name": "Course setup", "dtype": "float64", "shuffle": False, "copies": "Model 1"}
            | {
                "train_loss": [1.0, 0.9, 0.85],
                "train_acc": 0.45,
                "val_acc": 0.41,
                "val_confusion_matrix": [[10, 40], [19, 31]],
            },
        ],
        "other_seed_exactness": {
            "name": "Model 4",
            "seed": 1,
            "bitwise_identical": True,
            "max_param_diff": 0.0,
            "max_loss_diff": 0.0,
        },
    }


def committed_checks() -> dict:
    return json.loads((FIGURES / "backprop_checks.json").read_text(encoding="utf-8"))


def test_model_records_on_a_hand_made_run():
    result = analysis.analyse(hand_made_results(), committed_checks())
    # 10 training images in batches of 4: 3 steps per epoch, the last of 2 images; 9 steps in 3 epochs.
    assert (result.steps, result.last_batch, result.training_images, result.epoch_changes) == (9, 2, 110, 2)
    assert result.torch_series == "2.14"
    assert result.mkl_docs_version == "2024-2"
    assert result.loss_epochs == (1,), "of the course's epochs, only the first is within 3"
    plain, _, momentum, both, _ = result.models
    assert [m.loss_rises for m in result.models] == [0, 0, 1, 1, 2]
    assert [m.best_epochs for m in result.models] == [(2, 3), (3,), (2,), (1, 3), (1,)]
    # Model 3's validation accuracy: +0.2, then −0.1, one fall of 10 of the 100 validation images, which is also how
    # far the last epoch lies below the best: a shortfall no larger than the largest fall.
    assert momentum.gap == pytest.approx(0.2) and momentum.below_best_images == 10
    assert momentum.largest_val_drop_images == 10 and momentum.fall_within_swings
    # Model 5: 0.7, 0.6, 0.6 — 10 images below the best at the end, after a fall of 10.
    assert [m.below_best_images for m in result.models] == [0, 0, 10, 0, 10]
    # A slow slide, 0.8 → 0.75 → 0.7: 10 images below the best, more than either fall of 5.
    results = hand_made_results()
    results["models"][2]["sgd"]["val_acc_per_epoch"] = [0.8, 0.75, 0.7]
    sliding = analysis.analyse(results, committed_checks())
    assert (sliding.models[2].below_best_images, sliding.models[2].largest_val_drop_images) == (10, 5)
    assert not sliding.models[2].fall_within_swings
    assert result.comparisons["momentum"].changed_peaks_within_swings, "Model 4 ends at its best, Model 3 within"
    assert not sliding.comparisons["momentum"].changed_peaks_within_swings, "Model 3 slid further than it fell"
    assert (momentum.step_factor, momentum.decay_per_step) == (pytest.approx(1 / 0.15), 0.0)
    assert both.decay_per_step == pytest.approx(0.01 * 0.01 / 0.15)
    assert both.decay_over_training == analysis.shrinkage_by_decay_alone(
        {"lr": 0.01, "momentum": 0.85, "weight_decay": 0.01}, 9
    )
    # Wilson's 95% interval for 50 of 100: 0.5 ± 1.96 / (1 + 1.96²/100) · sqrt(0.25/100 + 1.96²/40000).
    assert (plain.val_interval.low, plain.val_interval.high) == pytest.approx((0.40383, 0.59617), abs=1e-5)
    assert plain.seed_val_acc == analysis.Spread(0.525, pytest.approx(0.05 / math.sqrt(2)), 0.5, 0.55)
    assert [m.selected for m in result.models] == [False, False, False, True, False]
    assert both.losses == (analysis.EpochLoss(1, 0.9, 0.9, True),)


def test_selection_and_paired_tests_on_a_hand_made_run():
    selection = analysis.analyse(hand_made_results(), committed_checks()).selection
    # Raw p: 2·(1 + 12)/4096 for Model 1, 2/4096 for Model 2, 1 for Models 3 and 5. Holm: Model 2 ×4, Model 1 ×3.
    p_model_1, p_model_2 = 2 * 13 / 4096, 2 / 4096
    assert [test.p for test in selection.tests] == pytest.approx([p_model_1, p_model_2, 1.0, 1.0])
    assert [test.holm_p for test in selection.tests] == pytest.approx([3 * p_model_1, 4 * p_model_2, 1.0, 1.0])
    assert [test.resolved for test in selection.tests] == [True, True, False, False]
    assert [m.name for m in selection.unresolved] == ["Model 3", "Model 5"]
    assert (selection.test_correct, selection.first_as_second, selection.second_as_first) == (87, 10, 3)
    # Model 4 gets 75 of 100 validation images right: Wilson interval about [0.657, 0.825], which 0.87 is above.
    assert not selection.test_in_val_interval
    results = hand_made_results()
    results["selected"]["test_acc"] = 0.80
    assert analysis.analyse(results, committed_checks()).selection.test_in_val_interval
    # 10 cars taken for cats and 3 cats for cars: two-sided, 2 · P(X ≤ 3) for X ~ Binomial(13, 1/2).
    assert selection.class_p == pytest.approx(2 * sum(math.comb(13, k) for k in range(4)) / 2**13)
    assert not selection.classes_differ
    assert (selection.first_class_size, selection.second_class_size) == (50, 50)


def test_the_class_error_test_expects_each_class_s_share_of_the_errors():
    # 50 cars with 10 errors, 30 cats with 3: were the error rates equal, an error would be a car with chance 5/8,
    # so 10 car errors of 13 is the likely split, not a lopsided one.
    def chance(k: int) -> float:
        return math.comb(13, k) * (5 / 8) ** k * (3 / 8) ** (13 - k)

    expected = 2 * min(sum(chance(k) for k in range(10, 14)), sum(chance(k) for k in range(11)))
    assert analysis.class_error_p([[40, 10], [3, 27]]) == pytest.approx(min(1.0, expected))
    assert expected > 2 * analysis.exact_mcnemar_p(10, 3)  # a fair coin would call this split twice as unlikely
    assert analysis.class_error_p([[30, 20], [29, 1]]) < 0.01


def test_the_baseline_on_the_test_set_scores_its_class_share():
    results = hand_made_results()
    results["selected"]["confusion_matrix"] = [[40, 10], [3, 27]]  # 50 automobiles, 30 cats
    assert analysis.analyse(results, committed_checks()).baseline_test_acc == 50 / 80
    results["baseline"]["predicts"] = "cat"
    assert analysis.analyse(results, committed_checks()).baseline_test_acc == 30 / 80


def test_comparisons_follow_the_declared_pairs_seed_by_seed():
    comparisons = analysis.analyse(hand_made_results(), committed_checks()).comparisons
    assert set(comparisons) == set(COMPARISONS)
    momentum = comparisons["momentum"]
    assert [(p.base.name, p.changed.name) for p in momentum.pairs] == [("Model 1", "Model 3"), ("Model 2", "Model 4")]
    # With momentum: 0.7, 0.8 and 0.75, 0.65; without: 0.5, 0.55 and 0.52, 0.5. Both seeds have both ahead.
    assert momentum.changed_always_ahead, "the lowest run with momentum, 0.65, is above the highest without, 0.55"
    # Model 1 → Model 3: validation +0.2 and +0.25, t = 9; Model 2 → Model 4: +0.23 and +0.15, mean 0.19, t = 4.75.
    first, second = (pair.val_acc for pair in momentum.pairs)
    assert (first.above, first.below, first.always_above, first.mean) == (2, 0, True, pytest.approx(0.225))
    assert (first.p, second.p) == (pytest.approx(one_df_p(9.0)), pytest.approx(one_df_p(4.75)))
    # Final losses of the seed-42 runs: 0.8 → 0.6 and 0.9 → 0.75 with momentum; 0.8 → 0.9 with weight decay.
    assert [p.final_loss_lower for p in momentum.pairs] == [True, True]
    # Gaps (training − validation): 0.1 and 0.03 without momentum, 0.2 and 0.1 with: a tie is not larger, ...
    assert not momentum.changed_gap_larger
    results = hand_made_results()
    results["models"][3]["sgd"]["train_acc"] = 0.9  # ... but Model 4's gap of 0.15 is
    assert analysis.analyse(results, committed_checks()).comparisons["momentum"].changed_gap_larger
    assert not comparisons["weight_decay"].pairs[0].final_loss_lower
    assert momentum.final_loss_lower_always and not comparisons["weight_decay"].final_loss_lower_always
    assert momentum.shared_lr == 0.01 and momentum.changed_step_factor == pytest.approx(1 / 0.15)
    # Weight decay, Model 3 → Model 4: training −0.05 and +0.15, validation +0.05 and −0.15: t = ±0.5.
    _, with_momentum = comparisons["weight_decay"].pairs
    train, val = with_momentum.train_acc, with_momentum.val_acc
    assert (train.above, train.below, train.p) == (1, 1, pytest.approx(one_df_p(0.5)))
    assert (val.mean, val.p, val.resolved) == (pytest.approx(-0.05), pytest.approx(one_df_p(0.5)), False)
    assert not comparisons["weight_decay"].train_lower_always
    learning_rate = comparisons["learning_rate"]
    assert (learning_rate.ratio, learning_rate.shared_lr) == (pytest.approx(5.0), None)


def test_a_control_is_compared_seed_by_seed_with_the_model_it_varies_and_the_one_it_copies():
    control = analysis.analyse(hand_made_results(), committed_checks()).controls["Control 1"]
    assert control.decay_per_step == pytest.approx(0.05 * 0.01)
    assert control.seed_final_loss == analysis.Spread(0.525, pytest.approx(0.25 / math.sqrt(2)), 0.4, 0.65)
    assert control.seed_loss_rises == analysis.Spread(0, 0, 0, 0), "the control's losses never rose"
    copies, varies = control.copies, control.varies
    assert (copies.model.name, varies.model.name) == ("Model 3", "Model 2")
    # Validation 0.7 and 0.85 against Model 3's 0.7 (a tie) and 0.8: differences 0 and 0.05, t = 1.
    assert (copies.val_acc.above, copies.val_acc.below, copies.val_acc.p) == (1, 0, pytest.approx(one_df_p(1.0)))
    # Final loss 0.65 and 0.4 against the seed study's 0.5 and 0.7: +0.15 and −0.3, t = −1/3.
    assert (copies.final_loss.above, copies.final_loss.below) == (1, 1)
    assert copies.final_loss.p == pytest.approx(one_df_p(1 / 3))
    # No rise against Model 3's one (1.0, 1.2, 0.6) and two (0.6, 0.8, 0.9): −1 and −2, t = −3, below at every seed.
    rises = copies.loss_rises
    assert (rises.always_below, rises.always_above, rises.mean, rises.p) == (
        True,
        False,
        -1.5,
        pytest.approx(one_df_p(3)),
    )
    # Against Model 2's 0.52 and 0.5: +0.18 and +0.35, above at every seed.
    assert varies.val_acc.always_above and varies.val_acc.p == pytest.approx(one_df_p(0.265 / 0.085))


def test_a_control_that_differs_in_more_than_one_setting_from_the_model_it_varies_is_refused():
    results = hand_made_results()
    results["controls"][0]["momentum"] = 0.5
    with pytest.raises(ValueError, match=r"Control 1 must differ from Model 2 in one setting.*'lr', 'momentum'"):
        analysis.analyse(results, committed_checks())


def test_the_values_tried_are_each_setting_s_distinct_values_in_ascending_order():
    results = hand_made_results()
    for run in results["models"][:4]:  # Models 1 to 4 now above Model 5's 0.05: the values come from the run
        run["lr"] = 0.2
    result = analysis.analyse(results, committed_checks())
    assert result.values_tried == {"lr": (0.05, 0.2), "momentum": (0.0, 0.85), "weight_decay": (0.0, 0.01)}
    assert result.course_output.model is None, "no configuration has the settings of the course's run at lr 0.01"


def test_the_reference_s_lowest_loss_is_flagged_when_it_goes_with_its_least_fitted_run_with_momentum(monkeypatch):
    # The reference's lowest loss is Model 5's, whose 0.976 is below its Model 3 (0.982) and Model 4 (0.983).
    assert analysis.analyse(hand_made_results(), committed_checks()).reference.loss_model_least_fitted
    accuracies = {**analysis.REFERENCE["accuracies"], "Model 5": (0.990, 0.913)}
    monkeypatch.setitem(analysis.REFERENCE, "accuracies", accuracies)
    assert not analysis.analyse(hand_made_results(), committed_checks()).reference.loss_model_least_fitted


def test_the_distance_from_the_reference_counts_the_seed_and_both_splits():
    reference = analysis.analyse(hand_made_results(), committed_checks()).reference
    model_1 = next(r for r in reference.models if r.model.name == "Model 1")
    # Training accuracy: 0.897 against seeds 0.6 and 0.7, in seed standard deviations alone (fitted images).
    assert model_1.train_distance == pytest.approx((0.897 - 0.65) / (0.1 / math.sqrt(2)))
    mean, seed_sd = 0.525, 0.05 / math.sqrt(2)
    spread = math.sqrt(seed_sd**2 + mean * (1 - mean) / 100 + 0.885 * 0.115 / 100)
    assert model_1.val_distance == pytest.approx((0.885 - mean) / spread)
    # The reference's 87 cars taken for cats and 79 cats for cars: 2 · P(X <= 79), X ~ Binomial(166, 1/2).
    assert reference.class_p == pytest.approx(2 * sum(math.comb(166, k) for k in range(80)) / 2**166)
    assert reference.same_selection
    # The reference's 0.917 against 87 of 100 correct here: inside [0.790, 0.922], outside once ours is 80 of 100.
    assert reference.test_in_interval
    results = hand_made_results()
    results["selected"]["test_acc"] = 0.80
    assert not analysis.analyse(results, committed_checks()).reference.test_in_interval
    # Above our mean by the sign of the distance, whatever its size: every reference run tops these short trainings
    # until Model 4's seeds reach 0.99 and 0.995, above the reference's 0.983.
    assert [r.model.name for r in reference.train_above_ours] == [f"Model {n}" for n in range(1, 6)]
    results = hand_made_results()
    model_4_seeds = next(m for m in results["seed_study"]["models"] if m["name"] == "Model 4")
    model_4_seeds["train_acc"] = [0.99, 0.995]
    above = analysis.analyse(results, committed_checks()).reference.train_above_ours
    assert [r.model.name for r in above] == ["Model 1", "Model 2", "Model 3", "Model 5"]
    # A third run of ours, with two seeds, lies within t(0.975, 1 df) · sqrt(1 + 1/2) = 12.706 · 1.225 standard
    # deviations of their mean with probability 0.95: every distance here is inside.
    assert reference.prediction_distance == pytest.approx(12.7062 * math.sqrt(1.5), rel=1e-4)
    assert reference.all_within_prediction
    # Model 1's two seeds trained to 0.6 and 0.6001: the reference's 0.897 lies thousands of such spreads away.
    results = hand_made_results()
    model_1_seeds = next(m for m in results["seed_study"]["models"] if m["name"] == "Model 1")
    model_1_seeds["train_acc"] = [0.6, 0.6001]
    assert not analysis.analyse(results, committed_checks()).reference.all_within_prediction


def test_a_pair_that_differs_in_more_than_its_setting_is_refused(monkeypatch):
    results = hand_made_results()
    results["models"][2]["lr"] = 0.02  # Model 3 now differs from Model 1 in learning rate as well as momentum
    with pytest.raises(ValueError, match=r"Model 1 and Model 3 must differ in momentum only.*'lr', 'momentum'"):
        analysis.analyse(results, committed_checks())


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda r: r.pop("seed_study"), "seed_study"),
        (lambda r: r["controls"][0].pop("train_loss"), "controls[0].train_loss"),
        (lambda r: r["models"][3]["sgd"].pop("val_acc_per_epoch"), "models[3].sgd.val_acc_per_epoch"),
        (lambda r: r["paired_tests"][0].pop("only_other_right"), "paired_tests[0].only_other_right"),
    ],
)
def test_a_results_file_without_a_field_is_refused_by_name(damage, field):
    results = copy.deepcopy(hand_made_results())
    damage(results)
    with pytest.raises(ValueError, match=rf"results.json has no field {re.escape(field)}: .*re-run"):
        analysis.analyse(results, committed_checks())


def test_the_committed_run_analyses():
    result = analysis.load_analysis(FIGURES)
    assert result.selection.model.name == json.loads((FIGURES / "results.json").read_text())["selected"]["name"]


def test_a_course_setup_run_is_measured_against_its_model_s_own_run_and_seed_range():
    setups = analysis.analyse(hand_made_results(), committed_checks()).course_setups
    reshuffled, in_order = setups["Float64 run"], setups["Course setup"]
    assert (reshuffled.model.name, reshuffled.dtype, reshuffled.shuffle) == ("Model 1", "float64", True)
    # Model 1 got 0.5 of the 100 validation images right at seed 42: 0.52 is 2 more, 0.41 is 9 fewer.
    assert (reshuffled.val_images_below, in_order.val_images_below) == (-2, 9)
    # Model 1's seeds gave 0.5 and 0.55: 0.52 lies inside that range, 0.41 below it.
    assert reshuffled.within_seed_range and not in_order.within_seed_range
    assert (in_order.final_loss, in_order.train_acc, in_order.shuffle) == (0.85, 0.45, False)


def test_every_validation_comparison_over_seeds_is_adjusted_in_one_family():
    result = analysis.analyse(hand_made_results(), committed_checks())
    tests = result.seed_tests
    # The five declared pairs (changed − base), then the control against the model it varies and the one it copies.
    assert list(tests) == [
        "Model 3 − Model 1",
        "Model 4 − Model 2",
        "Model 2 − Model 1",
        "Model 4 − Model 3",
        "Model 5 − Model 4",
        "Control 1 − Model 2",
        "Control 1 − Model 3",
    ]
    assert [t.question for t in tests.values()] == ["momentum"] * 2 + ["weight decay"] * 2 + ["learning rate"] + [
        "control"
    ] * 2
    momentum = result.comparisons["momentum"].pairs[0].val_acc
    assert tests["Model 3 − Model 1"].val_acc == momentum
    # Holm over seven: the smallest p, Model 3 − Model 1's (t = 9 on one degree of freedom), times 7; the next,
    # Model 4 − Model 2's (t = 4.75), times 6; the largest are capped at 1.
    assert tests["Model 3 − Model 1"].holm_p == pytest.approx(7 * one_df_p(9.0))
    assert tests["Model 4 − Model 2"].holm_p == pytest.approx(6 * one_df_p(4.75))
    assert tests["Model 5 − Model 4"].holm_p == 1.0
    assert not any(t.significant for t in tests.values())
    # Model 3 at 0.7 and 0.75000001 against Model 1's 0.5 and 0.55: differences 0.2 and 0.20000001, p tiny.
    results = hand_made_results()
    results["seed_study"]["models"][2]["val_acc"] = [0.7, 0.75000001]
    tests = analysis.analyse(results, committed_checks()).seed_tests
    assert tests["Model 3 − Model 1"].holm_p < 0.05 and tests["Model 3 − Model 1"].significant
    assert [key for key, t in tests.items() if t.significant] == ["Model 3 − Model 1"]


def test_the_course_s_example_output_is_set_beside_the_configuration_with_its_settings():
    result = analysis.analyse(hand_made_results(), committed_checks())
    course = result.course_output
    # Its six validation accuracies run from 0.80 to 0.84; Model 1 has its no-momentum, no-weight-decay settings.
    assert (course.val_low, course.val_high, course.model.name) == (0.80, 0.84, "Model 1")
    assert (course.train_acc, course.val_acc, course.final_loss) == (0.88, 0.83, 0.31793)
    # Neither hand-made run matches Model 1's accuracies (0.5 validation); a copy of them does.
    assert not any(setup.same_accuracies for setup in result.course_setups.values())
    results = hand_made_results()
    model_1 = results["models"][0]["sgd"]
    results["course_setups"][0] |= {"train_acc": model_1["train_acc"], "val_acc": model_1["val_acc"]}
    assert analysis.analyse(results, committed_checks()).course_setups["Float64 run"].same_accuracies


def test_a_course_setup_run_s_validation_errors_are_split_by_class():
    setups = analysis.analyse(hand_made_results(), committed_checks()).course_setups
    reshuffled, in_order = setups["Float64 run"], setups["Course setup"]
    # In order: 40 of 50 cars taken for cats, 19 of 50 cats for cars. With equal classes, a fair split of the 59
    # errors gives 2 · P(X ≥ 40) for X ~ Binomial(59, 1/2).
    assert (in_order.first_as_second, in_order.second_as_first, in_order.first_class_size) == (40, 19, 50)
    assert in_order.class_p == pytest.approx(2 * sum(math.comb(59, k) for k in range(40, 60)) / 2**59)
    assert in_order.tilts_to_second
    # Reshuffled: 24 and 24, no tilt; a split as lopsided the other way is not a tilt towards cats either.
    assert (reshuffled.first_as_second, reshuffled.second_as_first, reshuffled.class_p) == (24, 24, 1.0)
    assert not reshuffled.tilts_to_second
    results = hand_made_results()
    results["course_setups"][1]["val_confusion_matrix"] = [[31, 19], [40, 10]]
    assert not analysis.analyse(results, committed_checks()).course_setups["Course setup"].tilts_to_second
