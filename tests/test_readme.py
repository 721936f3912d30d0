"""The README: its results are the rendered summary, its links resolve, its Performance quotes only the benchmark."""

import re
from pathlib import Path

import pytest

from report import render as render_module

REPO = Path(__file__).resolve().parents[1]
START, END = render_module.README_MARKERS


@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readme_s_results_are_the_rendered_summary(readme):
    assert readme.count(START) == 1 and readme.count(END) == 1
    block = readme.split(START + "\n", 1)[1].split(END, 1)[0]
    summary = render_module.report_markdown(template="summary.md")  # as --readme writes it
    assert "| model |" in summary, "the summary has lost its table of models"
    assert block == summary, "the README's results are stale: run python report/render.py --readme"
    # What --readme writes is exactly this: rewriting the README again changes nothing.
    assert render_module.readme_with_results(readme, summary) == readme


def test_readme_with_results_replaces_only_what_lies_between_the_markers():
    readme = f"# Title\n\nBefore.\n\n{START}\nold results\nmore\n{END}\n\nAfter, {START[:4]}.\n"
    rewritten = render_module.readme_with_results(readme, "new results\n")
    assert rewritten == f"# Title\n\nBefore.\n\n{START}\nnew results\n{END}\n\nAfter, {START[:4]}.\n"
    assert render_module.readme_with_results(rewritten, "new results\n") == rewritten


@pytest.mark.parametrize(
    "readme",
    ["no markers\n", f"{START}\nonly the start\n", f"{START}\n{END}\n{START}\n{END}\n"],
    ids=["none", "one", "twice"],
)
def test_a_readme_without_both_markers_once_is_refused(readme):
    with pytest.raises(ValueError, match="must hold the lines"):
        render_module.readme_with_results(readme, "results\n")


def test_every_figure_and_report_the_readme_links_exists(readme):
    targets = [part.split(")")[0] for line in readme.splitlines() for part in line.split("](")[1:]]
    local = [target for target in targets if not target.startswith(("http", "#"))]
    assert "report/report.pdf" in local and "report/report.md" in local
    for target in local:
        assert (REPO / target).exists(), target


def test_the_performance_section_links_the_benchmark_s_output_and_quotes_only_its_numbers(readme):
    # benchmarks/run.py writes one run to benchmarks/results.txt: the machine first, then its command and targets.
    section = readme.split("\n## Performance\n", 1)[1].split("\n## ", 1)[0]
    assert "](benchmarks/results.txt)" in section
    output = (REPO / "benchmarks" / "results.txt").read_text(encoding="utf-8")
    lines = output.splitlines()
    assert lines[0].startswith("CPU ") and lines[1].startswith("torch ")
    assert lines[2].startswith("command: python benchmarks/run.py") and lines[3].startswith("targets: ")
    quoted = re.findall(r"\d+(?:\.\d+)?\s?(?:x|×|s|ms|MiB|GiB|%)(?![\w.])|\d+\.\d+", section)
    assert [number for number in quoted if number not in output] == []
