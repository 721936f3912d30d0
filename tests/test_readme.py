"""The README's results section must match figures/results.json, wherever the two come from the same numerics."""

import json
import re
from pathlib import Path

import pytest

from report.facts import accuracy_interval

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text())


@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO / "README.md").read_text()


@pytest.fixture(scope="module")
def same_numerics(results, readme) -> None:
    """Skip when results.json was rewritten under other numerics than the README's numbers were made with."""
    stated = re.search(r"MKL mode `([^`]+)`", readme)
    assert stated, "the README must state the MKL mode its numbers were made with"
    made_under = results["numerics"]["mkl_mode"]
    if not results["numerics"]["pinned"] or made_under != stated.group(1):
        pytest.skip(
            f"figures/results.json was made with MKL in mode {made_under} (pinned: {results['numerics']['pinned']}), "
            f"the README's numbers in mode {stated.group(1)}: they differ by design (README, Reproducibility)"
        )


def interval(low_high: list[float], digits: int) -> str:
    return f"[{low_high[0]:.{digits}f}, {low_high[1]:.{digits}f}]"


@pytest.mark.usefixtures("same_numerics")
def test_model_table_matches_results(results, readme):
    n_val = results["data"]["sizes"]["val"]
    for model in results["models"]:
        verdict = "bitwise identical" if model["bitwise_identical"] else "DIFFERENT"
        ci = accuracy_interval(model["sgd"]["val_acc"], n_val)
        row = (
            f"| {model['name']} | {model['lr']} | {model['momentum']} | {model['weight_decay']} | "
            f"{model['sgd']['train_acc']:.3f} | {model['sgd']['val_acc']:.3f} {interval(ci, 3)} | "
            f"{model['sgd']['train_loss'][-1]:.4f} | {verdict} (max diff "
            f"{max(model['max_param_diff'], model['max_loss_diff'])}) |"
        )
        assert row in readme


@pytest.mark.usefixtures("same_numerics")
def test_selected_model_matches_results(results, readme):
    selected = results["selected"]
    (car_right, car_wrong), (cat_wrong, cat_right) = selected["confusion_matrix"]
    correct = car_right + cat_right
    assert (
        f"**{selected['name']}**, train {selected['train_acc']:.4f}, validation {selected['val_acc']:.4f} "
        f"{interval(selected['val_acc_ci'], 4)}, **test {selected['test_acc']:.4f}** "
        f"{interval(selected['test_acc_ci'], 4)} ({correct} of {correct + car_wrong + cat_wrong})"
    ) in readme
    assert f"automobile {car_right} / {car_wrong}, cat {cat_wrong} / {cat_right}" in readme
    assert f"baseline scores {results['baseline']['val_acc']:.3f}" in readme


@pytest.mark.usefixtures("same_numerics")
def test_uncertainty_table_matches_results(results, readme):
    facts = results["facts"]
    n_seeds = len(results["seed_study"]["seeds"])
    wins = {model["name"]: model["wins"] for model in results["seed_study"]["models"]}
    for test in facts["paired_tests"]:
        seeds = facts["models"][test["name"]]["seed_val_acc"]
        row = (
            f"| {test['name']} | {test['only_selected_right']} | {test['only_other_right']} | {test['p_value']:.4f} | "
            f"{test['holm_p']:.4f} | {seeds['mean']:.3f} ± {seeds['std']:.3f} | {wins[test['name']]} of {n_seeds} |"
        )
        assert row in readme
    name = results["selected"]["name"]
    seeds = facts["models"][name]["seed_val_acc"]
    spread = f"{seeds['mean']:.3f} ± {seeds['std']:.3f}"
    row = f"| {name} (selected) | – | – | – | – | {spread} | {wins[name]} of {n_seeds} |"
    assert row in readme


def test_every_figure_and_report_the_readme_links_exists(readme):
    targets = [part.split(")")[0] for line in readme.splitlines() for part in line.split("](")[1:]]
    local = [target for target in targets if not target.startswith(("http", "#"))]
    assert any(target.startswith("figures/") for target in local)
    assert "report/report.pdf" in local
    for target in local:
        assert (REPO / target).exists(), target
