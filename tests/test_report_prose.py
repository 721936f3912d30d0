"""The report's Markdown: the committed report.md is the render of the committed run, and figures and tables number
themselves."""

import difflib
from pathlib import Path

import pytest

from analysis import load_analysis
from report import render as render_module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def analysis():
    return load_analysis(REPO / "figures")


@pytest.fixture(scope="module")
def authors() -> dict:
    return render_module.read_authors()


def first_differences(expected: str, actual: str, lines: int = 30) -> str:
    """The start of a unified diff, for a message."""
    diff = difflib.unified_diff(expected.splitlines(), actual.splitlines(), "rendered", "committed", lineterm="", n=1)
    return "\n".join(list(diff)[:lines])


def test_the_committed_report_md_is_the_render_of_the_committed_results(analysis, authors):
    rendered = render_module.render_markdown(analysis, authors)
    committed = (REPO / "report" / "report.md").read_text(encoding="utf-8")
    assert rendered == committed, "report/report.md is stale: run python report/render.py\n" + first_differences(
        rendered, committed
    )


# Figures and tables number themselves, in the order the template places them.


@pytest.fixture
def template(tmp_path, monkeypatch, analysis, authors):
    """Render a template written here, in a folder of its own, with the committed run: text -> Markdown."""
    monkeypatch.setattr(render_module, "HERE", tmp_path)

    def rendered(text: str) -> str:
        (tmp_path / "small.md").write_text(text, encoding="utf-8")
        return render_module.render_markdown(analysis, authors, template="small.md")

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
