"""Render the report from the run's results: report/report.md, report/report.html and report/report.pdf.

Run from anywhere:  python report/render.py [--out FOLDER] [--readme]

It writes only into FOLDER (default report/), and only --readme rewrites the results between the README's markers.
The one template, report/template.md, computes nothing; its figures and tables number themselves, and a reference to
a label never placed stops the render. The HTML embeds the figures; MathJax 3 (django-static-mathjax) typesets its
math in a Chromium (report/chromium.py), which prints a PDF with fixed dates and id. Without a Chromium, MathJax is
copied beside the HTML and the PDF is skipped with one line saying how to get it; the exit status is still 0.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html
import re
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path

import jinja2
from nbconvert.filters.markdown_mistune import markdown2html_mistune

if __package__ in (None, ""):  # run as a script, python report/render.py: import as the package it is part of
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis import Analysis, Spread, load_analysis
from report.chromium import CHROMIUM_FLAGS, PDF_COMMAND, find_chromium

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIGURES = REPO / "figures"
TEMPLATE = "template.md"
AUTHORS = HERE / "authors.toml"
README = REPO / "README.md"
# The README's results are the report's summary, rendered between these two lines.
README_MARKERS = ("<!-- results: rendered by report/render.py from figures/results.json -->", "<!-- /results -->")
# MathJax 3 in one file (TeX in with every extension, SVG out with its fonts): one copy beside the HTML is all it needs.
MATHJAX_PACKAGE = "mathjax"  # the import name of django-static-mathjax
MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_FOLDER = "mathjax"  # beside report.html; the HTML refers to it by this relative path
FIXED_PDF_DATE = b"D:20260101000000+00'00'"
STYLE = (HERE / "style.css").read_text(encoding="utf-8")  # the page and print layout of report.html and report.pdf


def packaged_mathjax() -> Path:
    """The MathJax file installed by django-static-mathjax (requirements.txt)."""
    try:
        return Path(str(resources.files(MATHJAX_PACKAGE) / "static" / "mathjax" / "es5" / MATHJAX_FILE))
    except ModuleNotFoundError:
        raise SystemExit("no MathJax package: python -m pip install -r requirements.txt") from None


def _listed(items: Sequence[str]) -> str:
    """Items as a list in prose: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


class Numbering:
    """Figure and table numbers in placement order; a first pass (known=None) only learns the labels."""

    def __init__(self, known: dict[str, dict[str, int]] | None = None) -> None:
        self.known = known
        self.placed: dict[str, dict[str, int]] = {"Figure": {}, "Table": {}}

    def place(self, kind: str, label: str) -> int:
        """The number of a figure or table placed here."""
        numbers = self.placed[kind]
        if label in numbers:
            raise ValueError(f"{kind.lower()} {label!r} is placed twice in the report template")
        numbers[label] = len(numbers) + 1
        return numbers[label]

    def refer(self, kind: str, labels: tuple[str, ...]) -> str:
        """'Figure 3', or 'Figures 3, 5 and 6', for figures or tables placed anywhere in the template."""
        if self.known is None:
            return kind
        if unknown := [label for label in labels if label not in self.known[kind]]:
            raise ValueError(
                f"the report refers to {kind.lower()} {', '.join(map(repr, unknown))}, which it never places"
            )
        numbers = [str(number) for number in sorted(self.known[kind][label] for label in labels)]
        return f"{kind}{'s' if len(numbers) > 1 else ''} {_listed(numbers)}"


def _one_paragraph(text: str) -> str:
    """A caption's lines joined into one line, so that it stays one Markdown paragraph."""
    return " ".join(line.strip() for line in text.strip().splitlines())


@functools.cache
def _environment(folder: Path) -> jinja2.Environment:
    """The Jinja environment of the templates in `folder`, made once: it compiles each template once, too."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        d=decimals,
        sci=scientific,
        words=in_words,
        n=lambda count: f"{count:,}",
        g=lambda value: f"{value:g}",  # a setting as it is usually written: 0, 0.85, 0.01
        pct=lambda share, digits=1: f"{100 * share:.{digits}f}%",
        p=p_value,
        span=value_range,
        names=lambda models: _listed([model.name for model in models]),  # "Model 3 and Model 5"
    )
    return environment


def decimals(value: float, digits: int = 3, signed: bool = False) -> str:
    """A number with fixed decimals, an exact half rounded away from zero as readers expect (1/16 to 0.063, where
    Python's format gives 0.062), and a true minus sign (and a plus sign when `signed`)."""
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{rounded:{'+' if signed else ''}.{digits}f}".replace("-", "−")


def p_value(p: float) -> str:
    """A p-value as it is quoted: "p = 0.037", or "p < 0.001" below 0.001; no line breaks inside it."""
    return "p\u00a0<\u00a00.001" if p < 0.001 else f"p\u00a0=\u00a0{decimals(p)}"


def value_range(spread: Spread) -> str:
    """The range of a few whole counts, "1–4", or the one value when all are equal: "0", not "0–0"."""
    return f"{spread.min:g}" if spread.min == spread.max else f"{spread.min:g}–{spread.max:g}"


def in_words(number: float) -> str:
    """A whole number from one to ten in words ("five"), any other number in digits."""
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    return words[int(number) - 1] if number == int(number) and 1 <= number <= 10 else f"{number:g}"


def scientific(value: float, digits: int = 1) -> str:
    """A number as inline LaTeX, m × 10^e, or 10^e alone when m is 1."""
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    if digits == 0 and float(mantissa) == 1:
        return f"$10^{{{int(exponent)}}}$"
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"


def _numbered(numbering: Numbering, figures: str) -> dict[str, Callable]:
    """`{% call figure("x") %}caption{% endcall %}` places figure x, `{{ fig("x") }}` refers to it; tables likewise."""

    def figure(label: str, caller: Callable[[], str]) -> str:
        if not (FIGURES / f"{label}.png").is_file():
            raise ValueError(f"the report places figure {label!r}, but figures/{label}.png does not exist")
        caption = _one_paragraph(caller())
        number = numbering.place("Figure", label)
        alt = re.sub(r"[`$*\\]", "", caption.split(". ")[0])
        # Blank lines make the image and the caption paragraphs of their own: Jinja drops the newlines around tags.
        return f"\n\n![{alt}]({figures}/{label}.png)\n\n*Figure {number}. {caption}*\n"

    return {
        "figure": figure,
        "table": lambda label, caller: f"*Table {numbering.place('Table', label)}. {_one_paragraph(caller())}*\n",
        "fig": lambda *labels: numbering.refer("Figure", labels),
        "tab": lambda *labels: numbering.refer("Table", labels),
    }


def read_authors(path: Path = AUTHORS) -> dict[str, str]:
    """The authors' names, the submission date and the division of work, from the file a student edits."""
    with path.open("rb") as file:
        authors = tomllib.load(file)
    if missing := [key for key in ("names", "date", "contributions") if not isinstance(authors.get(key), str)]:
        raise ValueError(f"{path.name} must give {', '.join(missing)} as text")
    return authors


def report_markdown(figures: str = "../figures", template: str = TEMPLATE) -> str:
    """The report as Markdown: the template filled with the run's analysis, images linked under `figures`."""
    return render_markdown(load_analysis(FIGURES), read_authors(), figures, template)


def render_markdown(
    analysis: Analysis, authors: dict[str, str], figures: str = "../figures", template: str = TEMPLATE
) -> str:
    """The template filled with an analysis and the authors' part: a pure function of its arguments."""
    values = {"a": analysis, "authors": authors}
    compiled = _environment(HERE).get_template(template)
    first = Numbering()
    compiled.render(**values, **_numbered(first, figures))
    text = compiled.render(**values, **_numbered(Numbering(first.placed), figures))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def readme_with_results(readme: str, summary: str) -> str:
    """The README's text with the rendered summary between its two markers."""
    start, end = README_MARKERS
    if readme.count(start) != 1 or readme.count(end) != 1:
        raise ValueError(f"README.md must hold the lines {start} and {end} once each")
    before, rest = readme.split(start)
    return f"{before}{start}\n{summary}{end}{rest.split(end)[1]}"


def png_dpi(png: bytes) -> float:
    """The resolution a PNG was saved at, from its pHYs chunk (pixels per metre), else the CSS 96 pixels an inch."""
    chunk = png.find(b"pHYs")
    if chunk < 0 or png[chunk + 12] != 1:
        return 96.0
    return int.from_bytes(png[chunk + 4 : chunk + 8], "big") * 0.0254


def markdown_to_html(source: str) -> str:
    """Markdown with math to HTML; each image with its caption becomes a figure, its PNG embedded."""
    rendered = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", markdown2html_mistune(source))
    # Punctuation after inline math stays on the formula's line.
    rendered = re.sub(r"(\$[^$\n]+\$)([,.;:])", r'<span class="nobr">\1\2</span>', rendered)

    def embedded(match: re.Match) -> str:
        png = (FIGURES / Path(html.unescape(match.group(1))).name).read_bytes()
        # Printed at the size it was drawn, so that its text keeps its size: pixels over the PNG's own resolution.
        width = int.from_bytes(png[16:20], "big") / png_dpi(png)
        data = base64.b64encode(png).decode()
        image = f'<img src="data:image/png;base64,{data}" alt="{match.group(2)}" style="width: {width:.2f}in">'
        # A figure narrower than the text floats beside it, so that the text fills the rest of the page.
        narrow = f' class="narrow" style="width: {width:.2f}in"' if width < 4 else ""
        return f"<figure{narrow}>{image}<figcaption>{match.group(3)}</figcaption></figure>"

    figure = r'<p><img src="([^"]+)" alt="([^"]*)"\s*/?></p>\s*<p><em>(Figure \d+\..*?)</em></p>'
    rendered = re.sub(figure, embedded, rendered, flags=re.DOTALL)
    # Two narrow figures placed one after the other share a row, the text above and below them at full width.
    pair = r'(<figure class="narrow".*?</figure>)\s*(<figure class="narrow".*?</figure>)'
    rendered = re.sub(pair, r'<div class="row">\1\2</div>', rendered, flags=re.DOTALL)
    if "<img" in re.sub(r"<figure.*?</figure>", "", rendered, flags=re.DOTALL):
        raise ValueError("an image of the report is not a figure with its caption: put a blank line before it")
    # A table and its caption make one block, so that a page break cannot part them.
    table = r"(<table>.*?</table>)\s*<p><em>(Table \d+\..*?)</em></p>"
    return re.sub(table, r'<div class="table">\1<p class="caption">\2</p></div>', rendered, flags=re.DOTALL)


def build_html(markdown: str) -> str:
    """The report as one HTML page, math still in TeX, typeset by the MathJax in the folder beside it."""
    # typesetDone: every formula is drawn; no noundefined: an unknown macro is an error, not red text; one glyph cache.
    mathjax_config = (
        "<script>window.MathJax = {"
        'tex: {inlineMath: [["$", "$"]], processEscapes: true, packages: {"[-]": ["noundefined"]}}, '
        'svg: {fontCache: "global", scale: 0.9}, options: {enableMenu: false}, '
        "startup: {pageReady: () => MathJax.startup.defaultPageReady().then(() => { window.typesetDone = true; })}"
        "};</script>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Project 1 report</title>'
        f"<style>{STYLE}</style>{mathjax_config}"
        f'<script src="{MATHJAX_FOLDER}/{MATHJAX_FILE}"></script></head>\n<body>\n'
        + markdown_to_html(markdown)
        + "\n</body></html>\n"
    )


def copy_mathjax(folder: Path) -> None:
    """Put the packaged MathJax where the HTML in folder refers to it."""
    (folder / MATHJAX_FOLDER).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaged_mathjax(), folder / MATHJAX_FOLDER / MATHJAX_FILE)


class ChromiumStartError(Exception):
    """The Chromium that was found did not start."""


def typeset_and_print(page_html: str, html_path: Path, pdf_path: Path, chromium: str) -> None:
    """Typeset the math in Chromium, save the typeset page without scripts, and print it to PDF."""
    from playwright.sync_api import Error, sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        source = Path(folder) / "report.html"
        source.write_text(page_html, encoding="utf-8")
        copy_mathjax(Path(folder))
        try:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        except Error as error:
            raise ChromiumStartError(f"{chromium} did not start ({str(error).splitlines()[0]})") from error
        try:
            page = browser.new_page()
            page.goto(source.as_uri())
            page.wait_for_function("window.typesetDone === true", timeout=60_000)
            errors = page.evaluate(
                "() => [...document.querySelectorAll('mjx-container')]"
                ".map(math => math.querySelector('[data-mjx-error]')).filter(Boolean)"
                ".map(error => error.getAttribute('data-mjx-error'))"
            )
            if errors:
                raise SystemExit(f"MathJax could not typeset {len(errors)} formula(s): {'; '.join(errors)}")
            page.evaluate("() => document.querySelectorAll('script').forEach(element => element.remove())")
            html_path.write_text("<!DOCTYPE html>\n" + page.content() + "\n", encoding="utf-8")
            page.pdf(
                path=str(pdf_path),
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template='<div style="font-size:8px;width:100%;text-align:center;color:#555">page '
                '<span class="pageNumber"></span> of <span class="totalPages"></span></div>',
                margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
            )
        finally:
            browser.close()
    fix_pdf_metadata(pdf_path)


def fix_pdf_metadata(pdf_path: Path) -> None:
    """Fix the PDF's dates and document id, with values of the same length so that its byte offsets stay valid."""
    content = pdf_path.read_bytes()
    content = re.sub(rb"D:\d{14}[+\-Z][\d']*", lambda match: FIXED_PDF_DATE[: len(match.group(0))], content)
    zeros = bytes.maketrans(b"0123456789ABCDEFabcdef", b"0" * 22)  # the document id's hex digits, each a zero
    content = re.sub(rb"(?<=/ID )\[<[0-9A-Fa-f]+> <[0-9A-Fa-f]+>\]", lambda match: match[0].translate(zeros), content)
    pdf_path.write_bytes(content)


def render(out_dir: Path, chromium: str | None) -> tuple[Path, Path | None]:
    """Write report.md, report.html and, given a Chromium, report.pdf into out_dir only; return the HTML and PDF."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown()
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    if chromium is None:
        # No browser to typeset with: the reader's browser does it, with the MathJax copied beside the page.
        html_path.write_text(build_html(markdown), encoding="utf-8")
        copy_mathjax(out_dir)
        return html_path, None
    typeset_and_print(build_html(markdown), html_path, pdf_path, chromium)
    return html_path, pdf_path


def main() -> None:
    """Parse the options, find a Chromium, render, and rewrite the README's results when asked to."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "report", help="where to write the report (default report/)")
    parser.add_argument("--readme", action="store_true", help="also rewrite the results in the repository's README.md")
    options = parser.parse_args()

    def shown(path: Path) -> str:
        path = path.resolve()
        return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)

    reason = "no Chromium found"
    try:
        html_path, pdf_path = render(options.out, find_chromium())
    except ChromiumStartError as failure:
        reason = str(failure)
        html_path, pdf_path = render(options.out, None)
    print(f"wrote {shown(html_path)}")
    if pdf_path is None:
        # Not a failure: the HTML is the whole report, and the PDF is one optional install away.
        print(f"{reason}, so no PDF: run `{PDF_COMMAND}`, then `python report/render.py` again")
    else:
        print(f"wrote {shown(pdf_path)}")
    if options.readme:  # the README's results are the summary, rendered between its two markers
        summary = report_markdown(template="summary.md")
        README.write_text(readme_with_results(README.read_text(encoding="utf-8"), summary), encoding="utf-8")
        print(f"wrote {shown(README)}")


if __name__ == "__main__":
    main()
