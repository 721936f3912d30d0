"""The report's prose quotes the run: every templated paragraph is its template filled with figures/results.json,
and every number the report's text shows is a number of the run or a fixed fact of the assignment."""

import json
import re
from pathlib import Path

import pytest

from report import facts

REPO = Path(__file__).resolve().parents[1]
REPORT_TAGS = {"report-head", "report", "report-answers"}

# Fixed facts the prose may quote that are not results of the run: the architecture and image sizes, the networks of
# backprop.ipynb, float constants, the confidence level and the display window. The reference report's numbers need
# no entry: results.json carries them under facts.reference.
FIXED_FACTS = {
    768, 128, 32, 16, 64, 576, 24, 95, 1.1e-16, 6e-8, 2.5,
}  # fmt: skip
SMALL_INTEGERS = set(range(13))  # layer, model, figure and table numbers, counts of things (and epoch numbers)
NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)(?:\s*\\times\s*10\^\{([−-]?\d+)\})?(%?)")


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text())


@pytest.fixture(scope="module")
def backprop_checks() -> dict:
    return json.loads((REPO / "figures" / "backprop_checks.json").read_text())


@pytest.fixture(scope="module")
def report_cells() -> list[dict]:
    cells = json.loads((REPO / "project1.ipynb").read_text())["cells"]
    return [cell for cell in cells if REPORT_TAGS & set(cell["metadata"].get("tags", []))]


def prose_outputs(cells: list[dict]) -> list[tuple[str, str]]:
    """(template name, displayed Markdown) of every code cell that shows a filled template."""
    shown = []
    for cell in cells:
        source = "".join(cell["source"])
        template = re.search(r"prose\(\"([^\"]+)\"", source)
        if cell["cell_type"] == "code" and template:
            markdown = [o["data"]["text/markdown"] for o in cell["outputs"] if "text/markdown" in o.get("data", {})]
            assert len(markdown) == 1, f"the cell showing {template.group(1)} has no Markdown output"
            shown.append((template.group(1), "".join(markdown[0])))
    return shown


def test_the_report_facts_are_derived_from_the_results(results):
    measured = {key: value for key, value in results.items() if key != "facts"}
    assert facts.report_facts(measured) == results["facts"]


def test_every_templated_paragraph_is_its_template_filled_with_the_committed_results(
    results, backprop_checks, report_cells
):
    shown = prose_outputs(report_cells)
    assert len(shown) >= 8, "the report's answers are rendered from templates"
    by_name = {model["name"]: model for model in results["models"]}
    for template, markdown in shown:
        expected = facts.prose(template, r=results, f=results["facts"], models=by_name, bp=backprop_checks)
        assert markdown == expected, f"{template} is stale: re-run project1.ipynb"


def run_numbers(*documents: object) -> list[float]:
    """Every number in the documents, nested lists and dicts included."""
    numbers = []
    for document in documents:
        if isinstance(document, dict):
            numbers += run_numbers(*document.values())
        elif isinstance(document, list | tuple):
            numbers += run_numbers(*document)
        elif isinstance(document, int | float) and not isinstance(document, bool):
            numbers.append(float(document))
    return numbers


def quoted_numbers(text: str) -> list[tuple[str, float, float]]:
    """(as written, value, half a unit of its last digit) for every number in the text."""
    text = re.sub(r"`[^`]*`", "", text)  # code names such as fc[str(l)] are not quoted numbers
    quoted = []
    for match in NUMBER.finditer(text):
        digits, exponent, percent = match.groups()
        value = float(digits.replace(",", ""))
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        half_unit = 0.5 * 10.0**-decimals
        if exponent:
            scale = 10.0 ** int(exponent.replace("−", "-"))
            value, half_unit = value * scale, half_unit * scale
        if percent:
            value, half_unit = value / 100, half_unit / 100
        quoted.append((match.group(0), value, half_unit))
    return quoted


def test_every_number_in_the_report_text_comes_from_the_run(results, backprop_checks, report_cells):
    text = "\n".join("".join(cell["source"]) for cell in report_cells if cell["cell_type"] == "markdown")
    text += "\n".join(markdown for _, markdown in prose_outputs(report_cells))
    known = run_numbers(results, backprop_checks)
    unexplained = []
    for written, value, half_unit in quoted_numbers(text):
        epoch_number = value.is_integer() and value <= results["settings"]["epochs"]
        if value in SMALL_INTEGERS or epoch_number or any(abs(value - fact) <= half_unit for fact in FIXED_FACTS):
            continue
        if not any(abs(abs(number) - value) <= half_unit * (1 + 1e-9) for number in known):
            unexplained.append(written)
    assert not unexplained, f"numbers in the report that are not the run's: {sorted(set(unexplained))}"


def test_a_number_that_is_not_the_run_s_is_caught():
    quoted = quoted_numbers("accuracy 0.9123 and 51.3% and $2.5 \\times 10^{-8}$")
    assert [(written, round(value, 12)) for written, value, _ in quoted] == [
        ("0.9123", 0.9123),
        ("51.3%", 0.513),
        ("2.5 \\times 10^{-8}", 2.5e-8),
    ]


def test_holm_adjusts_in_the_order_given():
    assert facts.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert facts.holm_adjusted([0.5, 0.6]) == [1.0, 1.0]


def hand_made_results() -> dict:
    """Two models, three epochs, two seeds: small enough to derive every fact by hand."""
    model = {"name": "Model 1", "lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}
    model["sgd"] = {
        "train_loss": [1.0, 1.2, 0.8],
        "train_acc": 0.9,
        "val_acc": 0.7,
        "val_acc_per_epoch": [0.6, 0.8, 0.7],
    }
    other = {"name": "Model 2", "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0}
    other["sgd"] = {
        "train_loss": [1.0, 0.9, 0.8],
        "train_acc": 0.6,
        "val_acc": 0.5,
        "val_acc_per_epoch": [0.4, 0.5, 0.5],
    }
    seed_study = [
        {"name": "Model 1", "val_acc": [0.7, 0.8], "train_acc": [0.9, 0.8], "final_train_loss": [0.8, 0.6]},
        {"name": "Model 2", "val_acc": [0.5, 0.75], "train_acc": [0.6, 0.7], "final_train_loss": [0.8, 0.7]},
    ]
    return {
        "settings": {"epochs": 3, "batch_size": 4},
        "data": {"sizes": {"train": 10, "val": 100, "test": 100}},
        "models": [model, other],
        "selected": {"name": "Model 1", "val_acc": 0.7, "test_acc": 0.87, "confusion_matrix": [[40, 10], [3, 47]]},
        "paired_tests": [{"name": "Model 2", "only_selected_right": 9, "only_other_right": 1, "p_value": 0.02}],
        "seed_study": {"seeds": [42, 1], "models": seed_study},
    }


def test_report_facts_on_a_hand_made_run():
    derived = facts.report_facts(hand_made_results())
    first = derived["models"]["Model 1"]
    assert derived["steps"] == 3 * 3  # 10 images in batches of 4: 3 steps per epoch
    assert (derived["training_images"], derived["test_correct"]) == (110, 87)
    assert (first["loss_rises"], first["val_drops"], first["best_epoch"]) == (1, 1, 2)
    assert first["largest_val_drop"] == pytest.approx(0.1) and first["gap"] == pytest.approx(0.2)
    assert first["effective_lr"] == pytest.approx(0.2) and first["decay_per_step"] == pytest.approx(0.002)
    assert first["decay_over_training"] == pytest.approx(1 - 0.998**9)
    assert first["seed_val_acc"]["mean"] == pytest.approx(0.75) and first["seed_val_acc"]["min"] == 0.7
    assert derived["paired_tests"][0]["seeds_ahead"] == 2 and derived["paired_tests"][0]["holm_p"] == 0.02
    assert derived["val_acc_sd"] == pytest.approx((0.7 * 0.3 / 100) ** 0.5)
    errors = {"cars_as_cats": 10, "cats_as_cars": 3, "total": 13, "p_value": facts.exact_mcnemar_p(10, 3)}
    assert derived["class_errors"] == errors
    momentum = derived["momentum_at_equal_lr"]
    assert (momentum["with"], momentum["without"], momentum["lowest_with"], momentum["highest_without"]) == (
        ["Model 1"],
        ["Model 2"],
        0.7,
        0.75,
    )
