"""The README's results section must match the committed figures/results.json."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text())


@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO / "README.md").read_text()


def test_model_table_matches_results(results, readme):
    for model in results["models"]:
        identical = "yes" if model["bitwise_identical"] else "NO"
        row = (
            f"| {model['name']} | {model['lr']} | {model['momentum']} | {model['weight_decay']} | "
            f"{model['sgd']['train_acc']:.3f} | {model['sgd']['val_acc']:.3f} | {model['sgd']['train_loss'][-1]:.4f} | "
            f"{identical} (max diff {max(model['max_param_diff'], model['max_loss_diff'])}) |"
        )
        assert row in readme


def test_selected_model_matches_results(results, readme):
    selected = results["selected"]
    (car_right, car_wrong), (cat_wrong, cat_right) = selected["confusion_matrix"]
    correct = car_right + cat_right
    assert (
        f"**{selected['name']}**, train {selected['train_acc']:.3f}, validation {selected['val_acc']:.3f}, "
        f"**test {selected['test_acc']:.3f}** ({correct} of {correct + car_wrong + cat_wrong})"
    ) in readme
    assert f"automobile {car_right} / {car_wrong}, cat {cat_wrong} / {cat_right}" in readme
    assert f"baseline\nscores {results['baseline']['val_acc']:.3f}" in readme


def test_every_figure_the_readme_shows_exists(readme):
    for line in readme.splitlines():
        for part in line.split("](")[1:]:
            target = part.split(")")[0]
            if target.startswith("figures/"):
                assert (REPO / target).is_file(), target
