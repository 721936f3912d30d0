"""Render the report from the run's results: report/report.md, report/report.html and report/report.pdf.

Run from anywhere:  python report/render.py

Data flows one way: the notebooks write figures/results.json, figures/backprop_checks.json and the figures' PNG files;
this module reads only those. The one template, report/template.md, holds the prose in reading order with its figures
and tables, which number themselves: `{% call figure("loss_curves") %}caption{% endcall %}` places a figure,
`{{ fig("loss_curves") }}` refers to it, and the same with `table` and `tab`; a reference to a label that is never
placed stops the render. `report/facts.py` derives the numbers the prose quotes beyond the measurements. The Markdown
(report.md, committed, so that a diff shows what changed in the prose) becomes HTML with the figures embedded, whose
math MathJax 3 typesets (TeX input, SVG output, from the pinned Python package django-static-mathjax).

With a Chromium (the system's Chrome, Chromium or Edge, else Playwright's own, `python -m playwright install
chromium`), the math is typeset in headless Chromium, the typeset page is saved as report.html with its scripts
removed (so it shows in any browser with nothing beside it), and printed to report.pdf. Rendering the same results
again gives the same bytes: the PDF's dates and document id are fixed.

Without one, report.html is still written, with the math in TeX and MathJax copied into mathjax/ beside it, which
typesets it when the page is opened; the PDF is skipped with one line that says how to make it, and the exit status
is 0.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import jinja2
from nbconvert.filters.markdown_mistune import markdown2html_mistune

if __package__ in (None, ""):  # run as a script, python report/render.py: import as the package it is part of
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report.facts import decimals, in_words, percent, plain, report_facts, scientific

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIGURES = REPO / "figures"
TEMPLATE = "template.md"
README = REPO / "README.md"
# The README's results are the report's summary, rendered between these two lines.
README_MARKERS = ("<!-- results: rendered by report/render.py from figures/results.json -->", "<!-- /results -->")
# One file of MathJax 3 holding the TeX input with every TeX extension and the SVG output with its fonts: nothing
# is loaded from anywhere else, so one copy beside the HTML is all a reader's browser needs.
MATHJAX_PACKAGE = "mathjax"  # the import name of django-static-mathjax
MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_FOLDER = "mathjax"  # beside report.html; the HTML refers to it by this relative path
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
PDF_COMMAND = "python -m playwright install chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIXED_PDF_DATE = b"D:20260101000000+00'00'"
STYLE = """
@page { size: A4; margin: 18mm 16mm 18mm 16mm; }
body { font-family: "DejaVu Serif", Georgia, serif; font-size: 10pt; line-height: 1.38; color: #111;
       max-width: 48em; margin: 0 auto; }
h1 { font-size: 19pt; margin: 0 0 0.2em; }
h2 { font-size: 14pt; margin-top: 1.1em; border-bottom: 1px solid #999; }
h3 { font-size: 12pt; margin-top: 1.2em; }
h4 { font-size: 10.5pt; margin: 1.1em 0 0.3em; }
h1, h2, h3, h4 { break-after: avoid; }
p.source { color: #444; font-size: 9.5pt; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 8.5pt; break-inside: avoid; }
td:first-child, .nobr { white-space: nowrap; }
.pair { display: flex; gap: 1.5em; break-inside: avoid; }
.pair figure { flex: 1; margin: 0.5em 0; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; }
th { background: #eee; }
figure { margin: 1em 0; break-inside: avoid; text-align: center; }
figure img { max-width: 100%; max-height: 150mm; }
figcaption { margin-top: 0.3em; }
.appendix { break-before: page; }
p, li { orphans: 3; widows: 3; }
li { break-inside: avoid; }
figcaption, p.caption { font-size: 9pt; color: #333; text-align: left; break-before: avoid; }
pre { font-size: 8.5pt; background: #f6f6f6; padding: 4px 6px; white-space: pre-wrap; }
code { font-size: 9pt; }
"""


def packaged_mathjax() -> Path:
    """The MathJax file installed by django-static-mathjax (requirements.txt)."""
    try:
        return Path(str(resources.files(MATHJAX_PACKAGE) / "static" / "mathjax" / "es5" / MATHJAX_FILE))
    except ModuleNotFoundError:
        raise SystemExit(
            "no MathJax package: install the requirements, python -m pip install -r requirements.txt"
        ) from None


def install_locations() -> list[Path]:
    """Where Chrome, Chromium and Edge install themselves on macOS and Windows, which do not put them on PATH."""
    locations = [
        folder / app / "Contents" / "MacOS" / executable
        for folder in (Path("/Applications"), Path.home() / "Applications")
        for app, executable in (
            ("Google Chrome.app", "Google Chrome"),
            ("Chromium.app", "Chromium"),
            ("Microsoft Edge.app", "Microsoft Edge"),
        )
    ]
    for variable in ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA"):
        if root := os.environ.get(variable):
            locations += [
                Path(root) / "Google" / "Chrome" / "Application" / "chrome.exe",
                Path(root) / "Chromium" / "Application" / "chrome.exe",
                # Edge is a Chromium that every Windows has.
                Path(root) / "Microsoft" / "Edge" / "Application" / "msedge.exe",
            ]
    return locations


def system_chromium() -> str | None:
    """The system's Chromium, Chrome or Edge: on PATH, else where it installs itself; or None."""
    for name in CHROMIUM_CANDIDATES:
        if path := shutil.which(name):
            return path
    return next((str(path) for path in install_locations() if path.is_file()), None)


def managed_chromium() -> str | None:
    """Playwright's own Chromium, if `python -m playwright install chromium` has put it there; or None."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as playwright:
            path = Path(playwright.chromium.executable_path)
    except Error:
        return None
    return str(path) if path.is_file() else None


def find_chromium() -> str | None:
    """The path of a Chromium the report can be printed with, or None."""
    return system_chromium() or managed_chromium()


class Numbering:
    """Figure and table numbers in the order the template places them; a reference to a label never placed stops the
    render. The first pass (known=None) only learns the labels, so a reference may come before its figure."""

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
        unknown = [label for label in labels if label not in self.known[kind]]
        if unknown:
            raise ValueError(
                f"the report refers to {kind.lower()} {', '.join(map(repr, unknown))}, which it never places"
            )
        numbers = [str(number) for number in sorted(self.known[kind][label] for label in labels)]
        listed = numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} and {numbers[-1]}"
        return f"{kind}{'s' if len(numbers) > 1 else ''} {listed}"


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
        d=decimals, sci=scientific, pct=percent, n=lambda count: f"{count:,}", words=in_words, g=plain
    )
    return environment


def _numbered(numbering: Numbering, figures: str) -> dict[str, Callable]:
    """What the template calls to place and refer to figures and tables, which number themselves in `numbering`."""

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


def report_markdown(figures: str = "../figures", template: str = TEMPLATE) -> str:
    """The report as Markdown: the template filled with the run's results, images linked under `figures`."""
    results = json.loads((FIGURES / "results.json").read_text(encoding="utf-8"))
    checks = json.loads((FIGURES / "backprop_checks.json").read_text(encoding="utf-8"))
    return render_markdown(results, checks, figures, template)


def render_markdown(results: dict, checks: dict, figures: str = "../figures", template: str = TEMPLATE) -> str:
    """The template filled with the given results and gradient checks: a pure function of its arguments."""
    values = {
        "r": results,
        "f": report_facts(results),
        "bp": checks,
        "models": {m["name"]: m for m in results["models"]},
    }
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
        return f'<figure data-inches="{width:.2f}">{image}<figcaption>{match.group(3)}</figcaption></figure>'

    figure = r'<p><img src="([^"]+)" alt="([^"]*)"\s*/?></p>\s*<p><em>(Figure \d+\..*?)</em></p>'
    rendered = re.sub(figure, embedded, rendered, flags=re.DOTALL)
    # Two narrow figures in a row are set side by side.
    narrow = r'<figure data-inches="([0-3]\.\d\d)">.*?</figure>'
    rendered = re.sub(f"({narrow})\\s*({narrow})", r'<div class="pair">\1\3</div>', rendered, flags=re.DOTALL)
    if "<img" in re.sub(r"<figure.*?</figure>", "", rendered, flags=re.DOTALL):
        raise ValueError("an image of the report is not a figure with its caption: put a blank line before it")
    caption = r"<p><em>(Table \d+\..*?)</em></p>"
    return re.sub(caption, r'<p class="caption">\1</p>', rendered, flags=re.DOTALL)


def build_html(markdown: str) -> str:
    """The report as one HTML page, math still in TeX, typeset by the MathJax in the folder beside it."""
    # typesetDone tells the printer that every formula is drawn; without noundefined an unknown macro is an error
    # the printer reports rather than red text in the PDF; a global font cache keeps each glyph once.
    mathjax_config = (
        "<script>window.MathJax = {"
        'tex: {inlineMath: [["$", "$"]], processEscapes: true, packages: {"[-]": ["noundefined"]}}, '
        'svg: {fontCache: "global"}, options: {enableMenu: false}, '
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
                footer_template=(
                    '<div style="font-size:8px;width:100%;text-align:center;color:#555">'
                    'Project 1: cars vs cats — page <span class="pageNumber"></span> of '
                    '<span class="totalPages"></span></div>'
                ),
                margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"},
            )
        finally:
            browser.close()
    fix_pdf_metadata(pdf_path)


def fix_pdf_metadata(pdf_path: Path) -> None:
    """Replace the creation and modification dates and the document id by fixed values of the same length.

    Same-length replacements keep every byte offset of the PDF's cross-reference table valid.
    """
    content = pdf_path.read_bytes()
    content = re.sub(rb"D:\d{14}[+\-Z][\d']*", lambda match: FIXED_PDF_DATE[: len(match.group(0))], content)
    content = re.sub(rb"/ID \[<([0-9A-Fa-f]+)> <([0-9A-Fa-f]+)>\]", _fixed_id, content)
    pdf_path.write_bytes(content)


def _fixed_id(match: re.Match) -> bytes:
    """A document id of zeros, as long as the one Chromium wrote."""
    first, second = match.group(1), match.group(2)
    return b"/ID [<" + b"0" * len(first) + b"> <" + b"0" * len(second) + b">]"


def render(out_dir: Path, chromium: str | None) -> tuple[Path, Path | None]:
    """Write report.md and report.html, and report.pdf when a Chromium is given; return the HTML and PDF paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown()
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    summary = report_markdown(template="summary.md")
    README.write_text(readme_with_results(README.read_text(encoding="utf-8"), summary), encoding="utf-8")
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    if chromium is None:
        # No browser to typeset with: the reader's browser does it, with the MathJax copied beside the page.
        html_path.write_text(build_html(markdown), encoding="utf-8")
        copy_mathjax(out_dir)
        return html_path, None
    typeset_and_print(build_html(markdown), html_path, pdf_path, chromium)
    return html_path, pdf_path


def main() -> None:
    """Parse the options, find a Chromium, and render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "report")
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


if __name__ == "__main__":
    main()
