"""The report's Markdown: the committed report.md is the render of the committed results, figures and tables number
themselves, and the facts the prose quotes beyond the measurements are derived correctly (on a hand-made run)."""

import difflib
import json
import math
from pathlib import Path

import pytest

from report import render as render_module
from report.facts import REFERENCE, design, report_facts

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def checks() -> dict:
    return json.loads((REPO / "figures" / "backprop_checks.json").read_text(encoding="utf-8"))


def first_differences(expected: str, actual: str, lines: int = 30) -> str:
    """The start of a unified diff, for a message."""
    diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), "rendered", "committed", lineterm="", n=1)
    return "\n".join(list(diff)[:lines])


def test_the_committed_report_md_is_the_render_of_the_committed_results(results, checks):
    rendered = render_module.render_markdown(results, checks)
    committed = (REPO / "report" / "report.md").read_text(encoding="utf-8")
    assert rendered == committed, "report/report.md is stale: run python report/render.py\n" + first_differences(
        rendered, committed
    )


# Figures and tables number themselves, in the order the template places them.


@pytest.fixture
def template(tmp_path, monkeypatch, results, checks):
    """Render a template written here, in a folder of its own, with the committed results: text -> Markdown."""
    monkeypatch.setattr(render_module, "HERE", tmp_path)

    def rendered(text: str) -> str:
        (tmp_path / "small.md").write_text(text, encoding="utf-8")
        return render_module.render_markdown(results, checks, template="small.md")

    return rendered


def test_a_reference_to_a_figure_never_placed_stops_the_render(template):
    placed = '{% call figure("loss_curves") %}Curves.{% endcall %}\n\n'
    with pytest.raises(ValueError, match="'nowhere'"):
        template(placed + 'As {{ fig("loss_curves", "nowhere") }} show.\n')
    with pytest.raises(ValueError, match="'no_table'"):
        template(placed + 'See {{ tab("no_table") }}.\n')
    assert "As Figure 1 shows." in template(placed + 'As {{ fig("loss_curves") }} shows.\n')


def test_a_figure_or_table_placed_twice_stops_the_render(template):
    figure = '{% call figure("samples") %}Samples.{% endcall %}\n\n'
    with pytest.raises(ValueError, match="'samples' is placed twice"):
        template(figure + figure)
    table = '{% call table("sizes") %}Sizes.{% endcall %}\n\n'
    with pytest.raises(ValueError, match="'sizes' is placed twice"):
        template(table + table)


def test_placing_a_figure_whose_png_is_missing_stops_the_render(template):
    with pytest.raises(ValueError, match=r"figures/no_such_figure\.png does not exist"):
        template('{% call figure("no_such_figure") %}Nothing.{% endcall %}\n')


def test_numbers_follow_the_order_of_placement_even_for_an_earlier_reference(template):
    text = template(
        'Seen first: {{ fig("samples") }}; then {{ tab("second") }}.\n\n'
        '{% call figure("loss_curves") %}Curves. Of the\ntraining loss.{% endcall %}\n\n'
        '{% call table("first") %}The first table.{% endcall %}\n\n'
        '{% call figure("samples") %}Cars and cats. Eight of each.{% endcall %}\n\n'
        '{% call table("second") %}The second table.{% endcall %}\n\n'
        'Both: {{ fig("loss_curves", "samples") }}, {{ tab("first") }}.\n'
    )
    assert "Seen first: Figure 2; then Table 2." in text
    # The caption is one paragraph; the image's alternative text is its first sentence.
    assert "![Curves](../figures/loss_curves.png)\n\n*Figure 1. Curves. Of the training loss.*" in text
    assert "*Table 1. The first table.*" in text and "*Table 2. The second table.*" in text
    assert "![Cars and cats](../figures/samples.png)\n\n*Figure 2. Cars and cats. Eight of each.*" in text
    assert "Both: Figures 1 and 2, Table 1." in text


# The facts, on a run small enough to derive every one by hand.


def hand_made_results() -> dict:
    """Four configurations, three epochs, two seeds.

    Model 1 is plain SGD at learning rate 0.25, Model 2 adds momentum 0.5, Model 3 also weight decay 0.01, Model 4 is
    Model 3 at twice the learning rate. 10 training images in batches of 4 make 3 steps per epoch, 9 in all.
    """
    settings = [(0.25, 0.0, 0.0), (0.25, 0.5, 0.0), (0.25, 0.5, 0.01), (0.5, 0.5, 0.01)]
    curves = [  # (training loss per epoch, validation accuracy per epoch, training and validation accuracy at the end)
        ([1.0, 0.9, 0.8], [0.4, 0.5, 0.5], 0.6, 0.5),
        ([1.0, 1.2, 0.8], [0.6, 0.8, 0.7], 0.9, 0.7),
        ([0.9, 0.7, 0.75], [0.75, 0.7, 0.75], 0.85, 0.75),
        ([0.8, 0.9, 1.0], [0.7, 0.6, 0.6], 0.7, 0.6),
    ]
    models = [
        {
            "name": f"Model {i}",
            "lr": lr,
            "momentum": momentum,
            "weight_decay": decay,
            "sgd": {"train_loss": loss, "val_acc_per_epoch": per_epoch, "train_acc": train, "val_acc": val},
        }
        for i, ((lr, momentum, decay), (loss, per_epoch, train, val)) in enumerate(
            zip(settings, curves, strict=True), 1
        )
    ]
    seeds = [  # validation accuracy, training accuracy, final training loss, at seeds 42 and 1
        ([0.5, 0.55], [0.6, 0.7], [0.8, 0.7]),
        ([0.7, 0.8], [0.9, 0.8], [0.8, 0.6]),
        ([0.75, 0.65], [0.85, 0.95], [0.75, 0.55]),
        ([0.6, 0.9], [0.7, 0.9], [1.0, 0.5]),
    ]
    seed_study = [
        {"name": f"Model {i}", "val_acc": val, "train_acc": train, "final_train_loss": loss}
        for i, (val, train, loss) in enumerate(seeds, 1)
    ]
    return {
        "settings": {"epochs": 3, "batch_size": 4},
        "data": {"sizes": {"train": 10, "val": 100, "test": 100}},
        "models": models,
        "selected": {"name": "Model 3", "val_acc": 0.75, "test_acc": 0.87, "confusion_matrix": [[40, 10], [3, 47]]},
        "paired_tests": [
            {"name": "Model 1", "only_selected_right": 9, "only_other_right": 1, "p_value": 0.02},
            {"name": "Model 2", "only_selected_right": 12, "only_other_right": 1, "p_value": 0.01},
            {"name": "Model 4", "only_selected_right": 5, "only_other_right": 4, "p_value": 0.5},
        ],
        "seed_study": {"seeds": [42, 1], "models": seed_study},
    }


def test_report_facts_on_a_hand_made_run():
    facts = report_facts(hand_made_results())
    assert (facts["steps"], facts["training_images"]) == (9, 110)
    assert (facts["test_correct"], facts["test_per_class"], facts["table_epochs"]) == (87, [50, 50], [1])
    assert facts["pairs_of_models"] == 6

    plain, momentum, decay, fast = (facts["models"][f"Model {i}"] for i in range(1, 5))
    assert [m["loss_rises"] for m in (plain, momentum, decay, fast)] == [0, 1, 1, 2]
    assert [m["best_epochs"] for m in (plain, momentum, decay, fast)] == [[2, 3], [2], [1, 3], [1]]
    assert [m["best_val_acc"] for m in (plain, momentum, decay, fast)] == [0.5, 0.8, 0.75, 0.7]
    assert momentum["gap"] == pytest.approx(0.2) and plain["gap"] == pytest.approx(0.1)
    # Model 2's validation accuracy: +0.2, then -0.1, one fall of 10 of the 100 validation images.
    assert (momentum["val_drops"], momentum["largest_val_drop_images"]) == (1, 10)
    assert momentum["val_drop_total"] == pytest.approx(0.1) and momentum["largest_val_drop"] == pytest.approx(0.1)
    # Model 3: -0.05, then +0.05.
    assert (decay["val_drops"], decay["largest_val_drop_images"]) == (1, 5)
    assert (momentum["step_factor"], momentum["effective_lr"], momentum["decay_per_step"]) == (2.0, 0.5, 0.0)
    assert fast["effective_lr"] == 1.0 and fast["decay_per_step"] == pytest.approx(0.01)
    assert decay["decay_per_step"] == pytest.approx(0.005)
    assert decay["decay_over_training"] == pytest.approx(1 - 0.995**9)
    # Wilson's 95% interval for 50 of 100: 0.5 ± 1.96 / (1 + 1.96²/100) · sqrt(0.25/100 + 1.96²/40000).
    assert plain["val_acc_ci"] == pytest.approx([0.40383, 0.59617], abs=1e-5)
    assert plain["seed_val_acc"] == pytest.approx({"mean": 0.525, "std": 0.05 / math.sqrt(2), "min": 0.5, "max": 0.55})
    assert fast["seed_final_loss"] == pytest.approx({"mean": 0.75, "std": 0.5 / math.sqrt(2), "min": 0.5, "max": 1.0})

    assert facts["design"] == pytest.approx(
        {
            "base_lr": 0.25,
            "momentum": 0.5,
            "momentum_pair": ("Model 1", "Model 2"),
            "decay_pairs": [("Model 2", "Model 3")],
            "step_pair": ("Model 3", "Model 4"),
            "lr_ratio": 2.0,
        }
    )
    assert design(hand_made_results()["models"][:3])["step_pair"] is None

    # Holm: 0.01 × 3 = 0.03 for Model 2, then max(0.03, 0.02 × 2) = 0.04 for Model 1, then 0.5 for Model 4.
    tests = {test["name"]: test for test in facts["paired_tests"]}
    assert [tests[name]["holm_p"] for name in ("Model 1", "Model 2", "Model 4")] == pytest.approx([0.04, 0.03, 0.5])
    assert [tests[name]["all_pairs_p"] for name in ("Model 1", "Model 2", "Model 4")] == pytest.approx([0.12, 0.06, 1])
    assert tests["Model 2"]["only_selected_right"] == 12, "a paired test keeps its measured counts"

    # At learning rate 0.25: Models 2 and 3 with momentum (4 runs), Model 1 without (2 runs); at both seeds both
    # runs with momentum are ahead: a one-sided sign test gives (1/2)².
    assert facts["momentum_at_equal_lr"] == pytest.approx(
        {
            "lr": 0.25,
            "with": ["Model 2", "Model 3"],
            "without": ["Model 1"],
            "runs_with": 4,
            "runs_without": 2,
            "lowest_with": 0.65,
            "highest_without": 0.55,
            "seeds_all_ahead": 2,
            "sign_test_p": 0.25,
            # Both runs with momentum above the one without at a seed: 2 of the C(3, 2) = 3 orders if exchangeable.
            "ordered_chance": 1 / 3,
            "exchangeable_p": 1 / 9,
        }
    )
    # Model 3 against Model 2, seed by seed: training 0.85 < 0.9 and 0.95 > 0.8, validation 0.75 > 0.7 and
    # 0.65 < 0.8; one of two untied seeds each way, so P(X >= 1) = 3/4 for X ~ Binomial(2, 1/2).
    assert facts["decay_pairs"] == [
        {
            "n": 2,
            "train_lower": 1,
            "train_untied": 2,
            "train_lower_p": 0.75,
            "val_higher": 1,
            "val_untied": 2,
            "val_higher_p": 0.75,
            "without": "Model 2",
            "with": "Model 3",
        }
    ]
    # 10 cars taken for cats and 3 cats for cars: two-sided, 2 · P(X ≤ 3) for X ~ Binomial(13, 1/2).
    p_value = 2 * sum(math.comb(13, k) for k in range(4)) / 2**13
    errors = {"cars_as_cats": 10, "cats_as_cars": 3, "total": 13}
    assert facts["class_errors"] == pytest.approx({**errors, "p_value": p_value})


def test_the_distance_from_the_reference_counts_the_seed_and_both_splits():
    facts = report_facts(hand_made_results())
    reference = facts["reference"]
    assert {key: reference[key] for key in REFERENCE} == REFERENCE
    assert set(reference["distance"]) == {"Model 1", "Model 2", "Model 3", "Model 4"}, "Model 5 is not in this run"
    # Model 1's training accuracy: the reference's 0.897 against seeds 0.6 and 0.7, in seed standard deviations
    # alone, since a training accuracy is measured on the images the model was fitted to.
    assert reference["distance"]["Model 1"]["train"] == pytest.approx((0.897 - 0.65) / (0.1 / math.sqrt(2)))
    # Its validation accuracy, 0.885 in the reference, against 0.5 and 0.55 on 100 validation images.
    mean, seed_sd = 0.525, 0.05 / math.sqrt(2)
    ours, theirs = math.sqrt(mean * (1 - mean) / 100), math.sqrt(0.885 * 0.115 / 100)
    expected = (0.885 - mean) / math.sqrt(seed_sd**2 + ours**2 + theirs**2)
    assert reference["distance"]["Model 1"]["val"] == pytest.approx(expected)
    # The reference's 87 cars taken for cats and 79 cats for cars: two-sided, 2 · P(X <= 79), X ~ Binomial(166, 1/2).
    assert reference["class_p_value"] == pytest.approx(2 * sum(math.comb(166, k) for k in range(80)) / 2**166)
