"""Every number the report quotes is a field of the analysis, checked by field path rather than by reading English.

The analysis is rendered with a sentinel in every numeric field. A sentinel prints as ⟨path⟩ through every filter,
and refuses arithmetic, comparison and truth tests, so a template that computed or judged a number would fail to
render. That render, the field map, is committed as report/field_map.md and reviewed: a misbinding shows there as a
wrong path. Refresh it with `python tests/test_report_bindings.py` after a deliberate change to the template.
"""

import dataclasses
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import analysis
from report import render as render_module
from settings import CONFIGS, CONTROLS

REPO = Path(__file__).resolve().parents[1]
FIELD_MAP = REPO / "report" / "field_map.md"
AUTHORS = {"names": "⟨authors.names⟩", "date": "⟨authors.date⟩", "contributions": "⟨authors.contributions⟩"}
SENTINEL = re.compile(r"⟨([^⟩]+)⟩")
MODEL_NAMES = [config["name"] for config in (*CONFIGS, *CONTROLS)]  # the controls are configurations too
# Numbers the report may write as they are: what the course and the design fix, not what the run measured.
LITERALS = (  # replaced in this order, so a phrase comes before the words it contains
    "about 7 significant digits",
    "INF265",
    "spring 2025",
    "Project 1",
    "kink at 0",
    "32×32",
    "16×16",
    "768–128–32–2",
    "toy net 2–3–2",
    "768–16–2",
    "5–7–6–4–3",
    "[2, 3, 2]",
    "[768, 16, 2]",
    "[5, 7, 6, 4, 3]",
    "float32",
    "float64",
    "relabelled automobile 0 and cat 1",
    "keeps the learning rate at 0.01 in all six of its configurations",
    "CIFAR-10",
    "AVX-512",
    "AVX2",
    "SSE2",
    "check 1",
    "check 2",
    "x86-64",
    "L2 regularisation",
    "section 1.1",
    "section 1.3",
)
# Section headings, numbered lists, layer numbers in a table's second column, figure and table numbers (the
# renderer's), citations and model names.
STRUCTURE = re.compile(
    r"^#+ [\d.]+ |^\d+\. |^\| [^|]+ \| \d \||(?:Figure|Table)s? \d+(?:(?:, | and )\d+)*|\[\d+\]|"
    + "|".join(map(re.escape, MODEL_NAMES)),
    re.MULTILINE,
)


class Sentinel:
    """A number standing in for the field at `path`: it prints as ⟨path⟩ and can be neither computed nor judged."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __str__(self) -> str:
        return f"⟨{self.path}⟩"

    def __bool__(self) -> bool:
        raise TypeError(f"the template tests the truth of {self.path}: read a boolean field instead")

    def __eq__(self, other: object) -> bool:
        raise TypeError(f"the template compares {self.path}: read a boolean field instead")

    __hash__ = object.__hash__


def scope(record: object) -> str | None:
    """The model a record is about, named in its sentinels' paths: model[Model 3], or both models of a pair."""
    if isinstance(record, analysis.Model | analysis.Control):
        return f"model[{record.name}]"
    if isinstance(record, analysis.PairedTest):
        return f"model[{record.other.name}]"
    if isinstance(record, analysis.ReferenceModel):
        return f"model[{record.model.name}]"
    if isinstance(record, analysis.SeedPair):
        return f"model[{record.base.name}|{record.changed.name}]"
    return None


def with_sentinels(value: object, path: str) -> object:
    """`value` with every int or float inside replaced by a Sentinel named by its path (booleans stay as they are)."""
    if isinstance(value, str) and re.fullmatch(r"[\d.]+", value):
        return Sentinel(path)  # a version number
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | float):
        return Sentinel(path)
    if dataclasses.is_dataclass(value):
        path = scope(value) or path
        fields = {
            field.name: with_sentinels(getattr(value, field.name), f"{path}.{field.name}")
            for field in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **fields)
    if isinstance(value, dict):
        return {key: with_sentinels(item, f"{path}.{key}") for key, item in value.items()}
    return tuple(with_sentinels(item, f"{path}.{index}") for index, item in enumerate(value))


def sentinel_renderer(monkeypatch: pytest.MonkeyPatch):
    """A function that renders a template of `folder` with a sentinel in every numeric field of the analysis."""
    sentinels = with_sentinels(analysis.load_analysis(REPO / "figures"), "a")

    def passing_sentinels(function):
        return lambda value, *args: str(value) if isinstance(value, Sentinel) else function(value, *args)

    def render(template: str = render_module.TEMPLATE, folder: Path = render_module.HERE) -> str:
        monkeypatch.setattr(render_module, "HERE", folder)
        filters = render_module._environment(folder).filters
        for name in ("d", "sci", "pct", "n", "words", "g", "p"):
            monkeypatch.setitem(filters, name, passing_sentinels(filters[name]))
        # A range of counts prints one number when its ends are equal: here both ends, as the fields they are.
        monkeypatch.setitem(filters, "span", lambda spread: f"{spread.min}–{spread.max}")
        return render_module.render_markdown(sentinels, AUTHORS, template=template)

    return render


@pytest.fixture
def sentinel_render(monkeypatch):
    return sentinel_renderer(monkeypatch)


def units(markdown: str) -> list[str]:
    """The report cut into table rows and sentences (clauses split at semicolons), whitespace folded."""
    pieces = []
    for block in re.split(r"\n\s*\n", markdown):
        if block.lstrip().startswith("|"):
            pieces += block.splitlines()
        else:
            pieces += re.split(r"(?<=[.;])\s+(?=[A-Z(*])", " ".join(block.split()))
    return pieces


def misplaced(markdown: str) -> list[str]:
    """Each model-scoped field that sits in a row or sentence that does not name its model(s)."""
    found = []
    for unit in units(markdown):
        for path in SENTINEL.findall(unit):
            if path.startswith("model["):
                models = path[len("model[") : path.index("]")].split("|")
                found += [f"{path} in: {unit}" for name in models if name not in SENTINEL.sub("", unit)]
    return found


def unbound_numbers(markdown: str) -> list[str]:
    """Digits left once sentinels, math, code, links, the references, the literals and the structure are removed."""
    text = markdown.split("## References")[0] + markdown.split("## Appendix")[-1]
    for pattern in (SENTINEL.pattern, r"\$\$.*?\$\$", r"\$[^$]*\$", r"`[^`]*`", r"\]\([^)]*\)", r"https?://\S+"):
        text = re.sub(pattern, " ", text, flags=re.DOTALL)
    text = " ".join(STRUCTURE.sub(" ", text).split())
    for literal in LITERALS:
        text = text.replace(literal, " ")
    return [match.group(0) for match in re.finditer(r"\S*\d\S*", text)]


def test_the_committed_field_map_is_the_sentinel_render(sentinel_render):
    assert sentinel_render() == FIELD_MAP.read_text(encoding="utf-8"), (
        "report/field_map.md is stale: review the template's bindings, then run python tests/test_report_bindings.py"
    )


def test_every_number_in_the_report_is_a_field(sentinel_render):
    rendered = sentinel_render()
    assert len(SENTINEL.findall(rendered)) > 200, "the sentinels did not reach the report"
    assert unbound_numbers(rendered) == []


def test_every_model_s_field_sits_beside_that_model_s_name(sentinel_render):
    assert misplaced(sentinel_render()) == []


@pytest.mark.parametrize(
    "misbinding",
    [
        "Model 4 reaches {{ a.models[2].val_acc | d }} in validation.\n",  # Model 3's accuracy, in a sentence
        "| model | validation |\n|---|---|\n| Model 4 | {{ a.models[2].val_acc | d }} |\n",  # and in a table cell
    ],
)
def test_model_3_s_validation_accuracy_quoted_for_model_4_is_caught(sentinel_render, tmp_path, misbinding):
    (tmp_path / "small.md").write_text(misbinding, encoding="utf-8")
    found = misplaced(sentinel_render("small.md", tmp_path))
    assert len(found) == 1 and found[0].startswith("model[Model 3].val_acc in: ")


@pytest.mark.parametrize(
    ("snippet", "error"),
    [
        ("{{ (a.selection.test_acc * 2) | d }}", "unsupported operand"),
        ("{% if a.selection.class_p < 0.05 %}differ{% endif %}", "not supported between"),
        ("{{ 'yes' if a.selection.test_acc else 'no' }}", "read a boolean field"),
    ],
)
def test_a_template_that_computes_or_judges_a_number_does_not_render(sentinel_render, tmp_path, snippet, error):
    (tmp_path / "small.md").write_text(snippet + "\n", encoding="utf-8")
    with pytest.raises(TypeError, match=error):
        sentinel_render("small.md", tmp_path)


if __name__ == "__main__":
    # Write the field map: the template rendered with sentinels, for review.
    with pytest.MonkeyPatch.context() as monkeypatch:
        FIELD_MAP.write_text(sentinel_renderer(monkeypatch)(), encoding="utf-8")
    print(f"wrote {FIELD_MAP.relative_to(REPO)}")
