"""Every number the report quotes is bound to the right measurement, found by perturbation.

Each numeric leaf of figures/results.json and figures/backprop_checks.json is nudged in turn, the report rendered
again, and the rendering compared with the unchanged one. A nudge changes every format the report uses (3 or 4
decimals, per cent, scientific): integers move by 1 (the split sizes by 2), accuracies by 0.0037 within [0, 1], any
other number is multiplied by 1.37 (a p-value at most to 1); where a nudge makes the render fail, the other direction
is tried. The text that changed then says where the leaf is quoted:

- a number of one model (a leaf under models[i], seed_study.models[i], paired_tests[i], selected or any record with
  that model's "name") may change only numbers that the text attributes to that model (`attribution` below);
- the measurements a reader needs (MUST_QUOTE) must change the text at all.

A configuration's learning rate, momentum and weight decay define the study's design (which models form the pairs
the answers compare), so any real change to one of them changes which sentences the template writes, and the render
stops. Those leaves are nudged on display only: the value is kept, so every comparison and derived number is the
same, but it prints as the nudged value, which shows where the template quotes the leaf itself.

What may legitimately change beyond the leaf's own model, each for a stated reason (see `misattributed`):
- a paired test's numbers may be attributed to the selected model too, which every test compares with;
- a p-value may change the Holm-adjusted p-values of other models (Holm's adjustment is joint);
- the settings are also quoted as the study's design, shared by several configurations: checked in tables only;
- a number of the selected model may sit in a clause that names no model ("it scores", "this run's");
- AGGREGATE_SENTENCES: statements about all configurations at once.
"""

import copy
import difflib
import functools
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from report import render as render_module
from report.facts import report_facts

REPO = Path(__file__).resolve().parents[1]
RESULTS = json.loads((REPO / "figures" / "results.json").read_text(encoding="utf-8"))
CHECKS = json.loads((REPO / "figures" / "backprop_checks.json").read_text(encoding="utf-8"))
MODEL_NAMES = [model["name"] for model in RESULTS["models"]]
SELECTED = RESULTS["selected"]["name"]

ACCURACY_STEP = 0.0037
FACTOR = 1.37
ZERO_STEP = 0.0037  # a float that is 0 (an exact difference, a zero error) cannot be scaled
DESIGN_SETTINGS = {"lr", "momentum", "weight_decay"}

# The leaves the report must quote, as paths into results.json.
MUST_QUOTE = [
    *[
        ("models", i, *key)
        for i in range(len(RESULTS["models"]))
        for key in (("lr",), ("momentum",), ("weight_decay",), ("sgd", "train_acc"), ("sgd", "val_acc"))
    ],
    *[("models", i, "sgd", "train_loss", RESULTS["settings"]["epochs"] - 1) for i in range(len(RESULTS["models"]))],
    ("selected", "val_acc"),
    ("selected", "test_acc"),
    ("selected", "test_acc_ci", 0),
    ("selected", "test_acc_ci", 1),
    *[("selected", "confusion_matrix", row, column) for row in (0, 1) for column in (0, 1)],
    ("settings", "epochs"),
    ("settings", "batch_size"),
    ("settings", "seed"),
    *[("data", "sizes", split) for split in RESULTS["data"]["sizes"]],
    *[("seed_study", "seeds", i) for i in range(len(RESULTS["seed_study"]["seeds"]))],
]

# Sentences that may change with a model's number although the text attributes the number to no model, or to
# others: each is a statement about all configurations at once, not about one of them.
AGGREGATE_SENTENCES = {
    # The largest difference between the two trainers over all configurations, in section 1.3: a maximum over all.
    r"over all \w+ pairs the largest difference is": "the maximum over all configurations",
    # How far the reference's accuracies lie from this run's, in (g) and appendix D: maxima over all configurations.
    r"its accuracies lie within": "the largest distance over all configurations",
    r"The training accuracies lie up to": "the largest training distance over all configurations",
}

# ---------------------------------------------------------------------------------------------------------------
# Rendering: render.py compiles each template once, so a sweep of every leaf takes seconds
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_render(tmp_path_factory):
    """render.render_markdown over a snapshot of the templates taken when the module starts, so that every render of
    the sweep fills the same template even while someone edits report/: (results, checks) -> Markdown."""
    snapshot = tmp_path_factory.mktemp("templates")
    for template in render_module.HERE.glob("*.md"):
        shutil.copy(template, snapshot / template.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render_module, "HERE", snapshot)
        yield render_module.render_markdown


# ---------------------------------------------------------------------------------------------------------------
# Leaves and nudges
# ---------------------------------------------------------------------------------------------------------------


def leaves(document, path=()):
    """(path, value) of every number in a JSON document; booleans are not numbers here."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from leaves(value, (*path, index))
    elif isinstance(document, int | float) and not isinstance(document, bool):
        yield path, document


def label(source: str, path: tuple) -> str:
    """results:models[3].sgd.val_acc"""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return f"{source}:{text.lstrip('.')}"


def owner(document: dict, path: tuple) -> str | None:
    """The model a leaf belongs to: the name of the innermost record on its path that names a model."""
    name = None
    for part in path[:-1]:
        document = document[part]
        if isinstance(document, dict) and document.get("name") in MODEL_NAMES:
            name = document["name"]
    return name


def nudges(path: tuple, value: float) -> list[float]:
    """The nudged values to try, in order."""
    if isinstance(value, int):
        step = 2 if path[:2] == ("data", "sizes") else 1
        return [value + step, value - step]
    if any("acc" in str(part) for part in path):
        return [nudged for nudged in (value + ACCURACY_STEP, value - ACCURACY_STEP) if 0 <= nudged <= 1]
    if value == 0:
        return [ZERO_STEP, -ZERO_STEP]
    if path[-1] == "p_value":
        return [min(1.0, value * FACTOR), value / FACTOR]
    return [value * FACTOR, value / FACTOR]


@functools.cache
def shown_type(kind: type) -> type:
    """A subclass of int or float whose instances compare and compute as their value but print as another."""

    class Shown(kind):
        def __new__(cls, value, shown):
            instance = super().__new__(cls, value)
            instance.shown = shown
            return instance

        def __str__(self) -> str:
            return str(self.shown)

        __repr__ = __str__

        def __format__(self, spec: str) -> str:
            return format(self.shown, spec)

    return Shown


def replaced(document: dict, path: tuple, value) -> dict:
    """A copy of the document with one leaf replaced."""
    document = copy.deepcopy(document)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


@dataclass
class Outcome:
    """What one nudged leaf did to the report."""

    source: str
    path: tuple
    owner: str | None
    nudged: object = None  # the value rendered, or None when no nudge rendered
    text: str | None = None
    on_display_only: bool = False
    errors: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return label(self.source, self.path)


def nudge_and_render(render, source: str, path: tuple, value) -> Outcome:
    """Render the report with one leaf nudged; on display only where every real nudge stops the render."""
    document = RESULTS if source == "results" else CHECKS
    outcome = Outcome(source, path, owner(document, path) if source == "results" else None)
    real = nudges(path, value)
    # Where no real nudge renders, the value is kept and only its printed form changes.
    candidates = [*real, *(shown_type(type(value))(value, nudged) for nudged in real[:1])]
    errors = []
    for number, candidate in enumerate(candidates):
        changed = replaced(document, path, candidate)
        try:
            text = render(changed, CHECKS) if source == "results" else render(RESULTS, changed)
        except Exception as error:  # any failure of the render: try the next nudge
            errors.append(f"{candidate!r}: {type(error).__name__}: {error}")
            continue
        outcome.nudged, outcome.text, outcome.on_display_only = candidate, text, number >= len(real)
        break
    outcome.errors = tuple(errors)
    return outcome


# ---------------------------------------------------------------------------------------------------------------
# The text: table rows, lines of their own, and prose in paragraphs, sentences and clauses
# ---------------------------------------------------------------------------------------------------------------

NUMBER = re.compile(r"[−+-]?\d+(?:[.,]\d+)*%?")
TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+|[^\w\s]")
MENTION = re.compile("|".join(rf"\b{re.escape(name)}\b" for name in MODEL_NAMES))
SENTENCE_END = re.compile(r"(?<=[.!?])\*?\s+")
CLAUSE_END = re.compile(r"[,;:]\s+")
OWN_LINE = re.compile(r"\s*(\||#|!\[|\*(Figure|Table) \d+\.|\$\$)")
PRONOUN = re.compile(r"\s*\*?(Its|It|its|it)\b")
PAIR = re.compile(rf"({MENTION.pattern})\s+(?:→|and)\s+({MENTION.pattern})")
NUMBER_PAIR = re.compile(
    rf"from\s+({NUMBER.pattern})\s+to\s+({NUMBER.pattern})|({NUMBER.pattern})\s+and\s+({NUMBER.pattern})"
)


@dataclass(frozen=True)
class Unit:
    """A table row or a line of its own (kind "line"), or a sentence of a paragraph (kind "prose")."""

    start: int
    end: int
    kind: str
    paragraph: tuple[int, int]


def units(text: str) -> list[Unit]:
    """The text cut into table rows, lines of their own (headings, images, captions, display math) and sentences."""
    found: list[Unit] = []
    paragraph: list[int] | None = None

    def close() -> None:
        if paragraph:
            start, end = paragraph
            cut = start
            for boundary in SENTENCE_END.finditer(text, start, end):
                found.append(Unit(cut, boundary.start(), "prose", (start, end)))
                cut = boundary.end()
            found.append(Unit(cut, end, "prose", (start, end)))

    position = 0
    for line in text.splitlines(keepends=True):
        start, end = position, position + len(line.rstrip("\n"))
        position += len(line)
        if not line.strip() or OWN_LINE.match(line):
            close()
            paragraph = None
            if line.strip():
                found.append(Unit(start, end, "row" if line.lstrip().startswith("|") else "line", (start, end)))
        elif paragraph is None:
            paragraph = [start, end]
        else:
            paragraph[1] = end
    close()
    return found


def brackets(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The spans of the (…) and […] groups in text[start:end], inner groups included."""
    groups, stack = [], []
    for index in range(start, end):
        if text[index] in "([":
            stack.append(index)
        elif text[index] in ")]" and stack:
            groups.append((stack.pop(), index + 1))
    return groups


def depth_zero(position: int, groups: list[tuple[int, int]]) -> bool:
    return not any(a <= position < b for a, b in groups)


def clauses(text: str, unit: Unit, groups: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The sentence cut at commas, semicolons and colons outside brackets."""
    cuts, cut = [], unit.start
    for boundary in CLAUSE_END.finditer(text, unit.start, unit.end):
        if depth_zero(boundary.start(), groups):
            cuts.append((cut, boundary.start()))
            cut = boundary.end()
    return [*cuts, (cut, unit.end)]


def mentions(text: str, start: int, end: int) -> list[re.Match]:
    return list(MENTION.finditer(text, start, end))


def first_at_depth_zero(text: str, start: int, end: int) -> str | None:
    groups = brackets(text, start, end)
    return next((m.group() for m in mentions(text, start, end) if depth_zero(m.start(), groups)), None)


def attribution(text: str, unit: Unit, at: tuple[int, int]) -> set[str]:
    """The models the text attributes the number at text[at[0]:at[1]] to: empty when it names none.

    A table row is about the model in its first cell. In prose, in this order:
    - a model's name is about that model;
    - "A → B ... from x to y" and "A and B ... x and y" in one sentence: x is about A, y about B (respectively);
    - in brackets that name a model, the nearest model named in them ("(Model 4: 4)");
    - in the clause (the sentence cut at , ; : outside brackets), the nearest model named outside brackets; a number
      in brackets counts from where they open, and one after "±" from the number it qualifies;
    - else the models a bracket in the clause names, a group the clause is about ("(Model 3, Model 4) reached x");
    - else, in a clause that names no model: the first model named in the sentence, or where the sentence begins with
      a pronoun ("Its", "It"), or names no model, the first model named in its paragraph (its topic).
    """
    start, end = at
    if unit.kind == "row":
        first_cell = text[unit.start : text.find("|", unit.start + 1, unit.end)]
        return {m.group() for m in MENTION.finditer(first_cell)}
    for mention in mentions(text, unit.start, unit.end):
        if mention.start() <= start < mention.end():
            return {mention.group()}
    groups = brackets(text, unit.start, unit.end)
    clause = next((a, b) for a, b in clauses(text, unit, groups) if a <= start <= b)
    pairs = list(PAIR.finditer(text, unit.start, unit.end))
    for numbers in NUMBER_PAIR.finditer(text, unit.start, unit.end):
        governing = [pair for pair in pairs if pair.end() <= numbers.start()]
        if governing:
            first, second = numbers.span(1), numbers.span(2)
            if numbers.group(3) is not None:
                first, second = numbers.span(3), numbers.span(4)
            if first[0] <= start < first[1]:
                return {governing[-1].group(1)}
            if second[0] <= start < second[1]:
                return {governing[-1].group(2)}
    enclosing = sorted((g for g in groups if g[0] <= start < g[1]), key=lambda g: g[1] - g[0])
    for a, b in enclosing:
        inside = mentions(text, a, b)
        if inside:
            return {min(inside, key=lambda m: max(m.start() - end, start - m.end(), 0)).group()}
    anchor = enclosing[-1][0] if enclosing else start
    qualified = re.search(rf"({NUMBER.pattern})\s*±\s*$", text[clause[0] : anchor])
    if qualified:
        anchor = clause[0] + qualified.start(1)
    outside = [m for m in mentions(text, *clause) if depth_zero(m.start(), groups)]
    if outside:
        nearest = min(outside, key=lambda m: (max(m.start() - anchor, anchor - m.end(), 0), m.start() > anchor))
        return {nearest.group()}
    # Brackets that hold only names name what the clause is about; brackets with numbers of their own are asides.
    naming = {
        m.group()
        for a, b in groups
        if clause[0] <= a < clause[1] and not re.search(r"\d", MENTION.sub("", text[a:b]))
        for m in mentions(text, a, b)
    }
    if naming:
        return naming
    if not PRONOUN.match(text, unit.start):
        first = first_at_depth_zero(text, unit.start, unit.end)
        if first:
            return {first}
    topic = first_at_depth_zero(text, *unit.paragraph)
    return {topic} if topic else set()


@dataclass(frozen=True)
class Change:
    """A number that changed: the text it is in (the report before or after the nudge), its unit and its span."""

    text: str
    unit: Unit
    span: tuple[int, int]

    @property
    def sentence(self) -> str:
        return " ".join(self.text[self.unit.start : self.unit.end].split())

    @property
    def clause_names(self) -> bool:
        """Whether the clause (or table row) the number is in names a model."""
        if self.unit.kind != "prose":
            return bool(mentions(self.text, self.unit.start, self.unit.end))
        groups = brackets(self.text, self.unit.start, self.unit.end)
        clause = next((a, b) for a, b in clauses(self.text, self.unit, groups) if a <= self.span[0] <= b)
        return bool(mentions(self.text, *clause))


def readings(tokens: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """The windows whose deletion from (or insertion into) tokens gives the same sequence as tokens[start:end]'s:
    in "5 and 5" → "5", the deleted "5 and" could as well be "and 5"."""
    windows = [(start, end)]
    a, b = start, end
    while a > 0 and tokens[a - 1] == tokens[b - 1]:
        a, b = a - 1, b - 1
        windows.append((a, b))
    a, b = start, end
    while b < len(tokens) and tokens[a] == tokens[b]:
        a, b = a + 1, b + 1
        windows.append((a, b))
    return windows


def changes(before: str, after: str) -> list[list[list[Change]]]:
    """The numbers that differ between two renderings, each in the unit it is in on its own side: per difference,
    the readings of it that the texts allow (usually one), each a list of changed numbers."""
    units_before, units_after = units(before), units(after)
    texts_before = [before[u.start : u.end] for u in units_before]
    texts_after = [after[u.start : u.end] for u in units_after]
    found = []
    matcher = difflib.SequenceMatcher(None, texts_before, texts_after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        sides = [
            (text, [(m, u) for u in chosen for m in TOKEN.finditer(text, u.start, u.end)])
            for text, chosen in ((before, units_before[i1:i2]), (after, units_after[j1:j2]))
        ]
        (_, old), (_, new) = sides
        tokens = difflib.SequenceMatcher(None, [m.group() for m, _ in old], [m.group() for m, _ in new], autojunk=False)
        for tag2, a1, a2, b1, b2 in tokens.get_opcodes():
            if tag2 == "equal":
                continue
            if tag2 == "replace":
                windows = [[(before, old, a1, a2), (after, new, b1, b2)]]
            else:  # one side only: every equivalent window is a reading
                text, listed, a, b = (before, old, a1, a2) if tag2 == "delete" else (after, new, b1, b2)
                windows = [[(text, listed, x, y)] for x, y in readings([m.group() for m, _ in listed], a, b)]
            found.append(
                [
                    [
                        Change(text, u, m.span())
                        for text, listed, x, y in window
                        for m, u in listed[x:y]
                        if any(c.isdigit() for c in m.group())
                    ]
                    for window in windows
                ]
            )
    return found


def misattributed(outcome: Outcome, baseline: str) -> list[str]:
    """The changed numbers that the text attributes to another model than the leaf's, described for a reader."""
    if outcome.owner is None or outcome.text is None:
        return []
    allowed = {outcome.owner}
    if outcome.path[0] == "paired_tests":
        allowed.add(SELECTED)  # a paired test compares the selected model with the one it names
    if outcome.path[0] == "seed_study":
        # A seed-by-seed comparison of two configurations that differ in weight decay alone quotes both of them.
        for pair in report_facts(RESULTS)["design"]["decay_pairs"]:
            if outcome.owner in pair:
                allowed |= set(pair)
    if outcome.path[-1] == "p_value":
        # Holm's step-down adjustment is joint: a test's adjusted p-value is a maximum over the tests with smaller
        # p-values, so one p-value can move the adjusted p-value, and the verdict, of other models.
        before = report_facts(RESULTS)["paired_tests"]
        after = report_facts(replaced(RESULTS, outcome.path, outcome.nudged))["paired_tests"]
        allowed |= {new["name"] for old, new in zip(before, after, strict=True) if old["holm_p"] != new["holm_p"]}

    def problem(change: Change) -> str | None:
        if outcome.path[-1] in DESIGN_SETTINGS and change.unit.kind != "row":
            # A setting is also quoted as the study's design ("momentum 0.85 at learning rate 0.01"), a value
            # several configurations share and the template reads from one of them: checked in the tables only.
            return None
        attributed = attribution(change.text, change.unit, change.span)
        if attributed & allowed:
            return None
        if outcome.path[0] == "selected" and not change.clause_names:
            return None  # the selected model is the subject of a clause that names no model ("this run's", "it")
        if any(re.search(pattern, change.sentence) for pattern in AGGREGATE_SENTENCES):
            return None
        number = change.text[slice(*change.span)]
        where = sorted(attributed) or "no model"
        return f"{outcome.label} ({outcome.owner}) changed {number!r}, attributed to {where}: {change.sentence}"

    problems = []
    for difference in changes(baseline, outcome.text):
        found = [[p for p in map(problem, reading) if p] for reading in difference]
        if all(found):  # no reading of the difference is free of problems
            problems += found[0]
    return problems


# ---------------------------------------------------------------------------------------------------------------
# The sweep: every leaf nudged once
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baseline(fast_render) -> str:
    return fast_render(RESULTS, CHECKS)


@pytest.fixture(scope="module")
def sweep(fast_render, baseline) -> dict[str, Outcome]:
    """Every numeric leaf of both JSON files, nudged and rendered."""
    started = time.perf_counter()
    outcomes = {}
    for source, document in (("results", RESULTS), ("checks", CHECKS)):
        for path, value in leaves(document):
            outcome = nudge_and_render(fast_render, source, path, value)
            outcomes[outcome.label] = outcome
    seconds = time.perf_counter() - started
    assert len(outcomes) > 500, f"only {len(outcomes)} leaves"
    assert seconds < 60, f"the sweep of {len(outcomes)} leaves took {seconds:.0f} s"
    return outcomes


def test_every_leaf_but_the_design_renders_when_nudged(sweep):
    """Only a configuration's setting may change the study's design so far that the template cannot be filled."""
    unrenderable = [o for o in sweep.values() if o.errors and (o.text is None or o.on_display_only)]
    design = [o for o in unrenderable if o.path[0] == "models" and o.path[-1] in DESIGN_SETTINGS]
    others = [f"{o.label}: {o.errors}" for o in unrenderable if o not in design]
    assert not others, "nudged leaves that stop the render:\n" + "\n".join(others)
    assert all(o.text is not None for o in design), [o.label for o in design if o.text is None]


def test_each_model_s_numbers_are_quoted_only_about_that_model(sweep, baseline):
    problems = [problem for outcome in sweep.values() for problem in misattributed(outcome, baseline)]
    checked = sum(o.owner is not None and o.text is not None and o.text != baseline for o in sweep.values())
    assert checked > 200, f"only {checked} leaves of a model change the report"
    assert not problems, f"{len(problems)} numbers quoted about another model:\n" + "\n".join(problems[:40])


def test_the_numbers_a_reader_needs_are_quoted(sweep, baseline):
    missing = [label("results", path) for path in MUST_QUOTE if label("results", path) not in sweep]
    assert not missing, f"not numbers of figures/results.json (update MUST_QUOTE): {missing}"
    unquoted = [label("results", path) for path in MUST_QUOTE if sweep[label("results", path)].text == baseline]
    assert not unquoted, f"the report does not quote: {unquoted}"


# ---------------------------------------------------------------------------------------------------------------
# The check itself catches a misbinding
# ---------------------------------------------------------------------------------------------------------------


def only_leaf(render, path: tuple, baseline: str) -> list[str]:
    return misattributed(nudge_and_render(render, "results", path, _at(RESULTS, path)), baseline)


def _at(document, path: tuple):
    for part in path:
        document = document[part]
    return document


@pytest.fixture
def scratch_templates(fast_render, tmp_path, monkeypatch):
    """A copy of the templates that a test may edit, rendered in place of the real ones."""
    folder = tmp_path / "report"
    shutil.copytree(render_module.HERE, folder)
    monkeypatch.setattr(render_module, "HERE", folder)
    return folder


OTHERS = [(i, name) for i, name in enumerate(MODEL_NAMES) if name != SELECTED]


def test_a_table_cell_bound_to_another_model_is_caught(fast_render, scratch_templates):
    """A template of one table, whose row of the selected model shows another model's validation accuracy."""
    index, other = OTHERS[0]
    row = "| {{ m.name }} | {{ (models[OTHER] if m.name == r.selected.name else m).sgd.val_acc | d(3) }} |"
    template = "| model | validation |\n|---|---|\n{% for m in r.models %}\n" + row + "\n{% endfor %}\n"
    (scratch_templates / "template.md").write_text(template.replace("OTHER", json.dumps(other)), encoding="utf-8")
    baseline = fast_render(RESULTS, CHECKS)
    problems = only_leaf(fast_render, ("models", index, "sgd", "val_acc"), baseline)
    assert problems, "a misbound table cell was not caught"
    assert all(f"attributed to ['{SELECTED}']: | {SELECTED} |" in problem for problem in problems), problems


# The report's own templates, each with one binding of the selected model's validation accuracy replaced by another
# model's: (file, the binding, what it is replaced by). The first is a table cell, the second a sentence.
MISBINDINGS = {
    "table-cell": (
        "summary.md",
        "{{ model.sgd.val_acc | d(3) }}",
        "{{ (models[OTHER] if model.name == sel.name else model).sgd.val_acc | d(3) }}",
    ),
    "sentence": ("template.md", "{{ sel.val_acc | d(3) }}", "{{ models[OTHER].sgd.val_acc | d(3) }}"),
}


@pytest.mark.parametrize("misbinding", MISBINDINGS)
@pytest.mark.parametrize(("index", "other"), OTHERS, ids=[name for _, name in OTHERS])
def test_the_report_quoting_another_model_s_accuracy_for_the_selected_one_fails(
    fast_render, scratch_templates, misbinding, index, other
):
    template, binding, replacement = MISBINDINGS[misbinding]
    source = (scratch_templates / template).read_text(encoding="utf-8")
    assert binding in source, f"report/{template} no longer holds {binding}: update MISBINDINGS"
    mutated = source.replace(binding, replacement.replace("OTHER", json.dumps(other)), 1)
    (scratch_templates / template).write_text(mutated, encoding="utf-8")
    baseline = fast_render(RESULTS, CHECKS)
    problems = only_leaf(fast_render, ("models", index, "sgd", "val_acc"), baseline)
    assert problems, f"{template}: {other}'s validation accuracy quoted for {SELECTED} was not caught"
