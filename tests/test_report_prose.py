"""The report's Markdown: the committed report.md is the render of the committed run; figures and tables number."""

import difflib
import itertools
import re
from pathlib import Path

import pytest

from analysis import load_analysis
from report import render as render_module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs() -> tuple:
    """What the report is rendered from: the committed run's analysis and the authors' part."""
    return load_analysis(REPO / "figures"), render_module.read_authors()


def test_the_committed_report_md_is_the_render_of_the_committed_results(inputs):
    rendered = render_module.render_markdown(*inputs)
    committed = (REPO / "report" / "report.md").read_text(encoding="utf-8")
    texts = rendered.splitlines(), committed.splitlines()
    diff = "\n".join(list(difflib.unified_diff(*texts, "rendered", "committed", lineterm="", n=1))[:30])
    assert rendered == committed, f"report/report.md is stale: run python report/render.py\n{diff}"


def test_every_paragraph_that_opens_with_a_label_starts_a_paragraph(inputs):
    """A template block tag can swallow the blank line before a paragraph and glue it to the one above."""
    lines = render_module.render_markdown(*inputs).splitlines()
    glued = [
        line
        for before, line in itertools.pairwise(lines)
        if before.strip() and (line.startswith("**(") or re.match(r"\*[A-Z][^*]{2,60}\*", line))
    ]
    assert glued == [], f"paragraphs glued to the one above: {glued}"


def test_no_sentence_is_glued_to_the_one_before():
    """A block tag at a line's end swallows the line break, and with it the space between two sentences."""
    glued = re.findall(r"\S*[a-z0-9)][.:;][A-Z][a-z]+", (REPO / "report" / "report.md").read_text(encoding="utf-8"))
    assert glued == [], f"sentences glued together: {glued}"


# Figures and tables number themselves, in the order the template places them.


@pytest.fixture
def template(tmp_path, monkeypatch, inputs):
    """Render a template written here, in a folder of its own, with the committed run: text -> Markdown."""
    monkeypatch.setattr(render_module, "HERE", tmp_path)

    def rendered(text: str) -> str:
        (tmp_path / "small.md").write_text(text, encoding="utf-8")
        return render_module.render_markdown(*inputs, template="small.md")

    return rendered


PLACED = '{% call figure("loss_curves") %}Curves.{% endcall %}\n\n'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (PLACED + 'As {{ fig("loss_curves", "nowhere") }} show.\n', "'nowhere'"),
        (PLACED + 'See {{ tab("no_table") }}.\n', "'no_table'"),
        ('{% call figure("samples") %}Samples.{% endcall %}\n\n' * 2, "'samples' is placed twice"),
        ('{% call table("sizes") %}Sizes.{% endcall %}\n\n' * 2, "'sizes' is placed twice"),
        ('{% call figure("no_such_figure") %}Nothing.{% endcall %}\n', r"figures/no_such_figure\.png does not exist"),
    ],
    ids=["unknown-figure", "unknown-table", "figure-twice", "table-twice", "missing-png"],
)
def test_a_wrong_figure_or_table_stops_the_render(template, text, error):
    with pytest.raises(ValueError, match=error):
        template(text)


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
    assert "As Figure 1 shows." in template(PLACED + 'As {{ fig("loss_curves") }} shows.\n')
