"""Render the report (report/report.html and report/report.pdf) from the executed project1.ipynb.

Run from anywhere:  python report/render.py

The report holds no code: it is made of the notebook cells tagged `report-head` (title, approach), `report` (results,
tables and figures with their captions) and `report-answers` (questions (a)-(g)), in that order. From code cells it
takes only the outputs. Math is typeset by MathJax 3 (TeX input, SVG output) from the pinned Python package
django-static-mathjax, so nothing outside the Python environment is needed for it on any OS.

With a Chromium (the system's Chrome, Chromium or Edge, else Playwright's own, `python -m playwright install
chromium`), the math is typeset in headless Chromium, the typeset page is saved as report.html with its scripts
removed (so it shows in any browser with nothing beside it), and printed to report.pdf. Rendering unchanged notebooks
again gives the same bytes: the PDF's dates and document id are fixed.

Without one, report.html is still written, with the math in TeX and MathJax copied into mathjax/ beside it, which
typesets it when the page is opened; the PDF is skipped with one line that says how to make it, and the exit status
is 0.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from nbconvert.filters.markdown_mistune import markdown2html_mistune

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("report-head", "report", "report-answers")
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
body { font-family: "DejaVu Serif", Georgia, serif; font-size: 10.5pt; line-height: 1.45; color: #111;
       max-width: 48em; margin: 0 auto; }
h1 { font-size: 19pt; margin: 0 0 0.2em; }
h2 { font-size: 14pt; margin-top: 1.4em; border-bottom: 1px solid #999; }
h3 { font-size: 12pt; margin-top: 1.2em; }
h4 { font-size: 10.5pt; margin: 1.1em 0 0.3em; }
h1, h2, h3, h4 { break-after: avoid; }
p.source { color: #444; font-size: 9.5pt; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 8.5pt; break-inside: avoid; }
td:first-child { white-space: nowrap; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; }
th { background: #eee; }
figure { margin: 1em 0; break-inside: avoid; text-align: center; }
figure img { max-width: 100%; max-height: 150mm; }
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


def tagged_cells(notebook: dict) -> list[dict]:
    """The report cells, grouped head, body, answers, each group in notebook order."""

    def section(cell: dict) -> str | None:
        tags = set(cell.get("metadata", {}).get("tags", []))
        return next((name for name in SECTIONS if name in tags), None)

    return [cell for name in SECTIONS for cell in notebook["cells"] if section(cell) == name]


def markdown_to_html(source: str) -> str:
    """Markdown with math to HTML; section numbers of the notebook are dropped from headings."""
    source = re.sub(r"^(#+) \d+\. ", r"\1 ", source, flags=re.MULTILINE)
    rendered = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", markdown2html_mistune(source))
    # A caption is a paragraph made of one emphasised sentence that starts "Figure N." or "Table N."
    caption = r"<p><em>((?:Figure|Table) \d+\..*?)</em></p>"
    return re.sub(caption, r'<p class="caption">\1</p>', rendered, flags=re.DOTALL)


def output_to_html(output: dict) -> str:
    """One code-cell output: a figure, a Markdown table or text, or printed lines."""
    data = output.get("data", {})
    if "image/png" in data:
        return f'<figure><img src="data:image/png;base64,{"".join(data["image/png"]).strip()}"></figure>'
    if "text/markdown" in data:
        return markdown_to_html("".join(data["text/markdown"]))
    if output.get("output_type") == "stream" and output.get("name") == "stdout":
        return f"<pre>{html.escape(''.join(output['text']))}</pre>"
    return ""


def build_html(notebook: dict) -> str:
    """The report as one HTML page, math still in TeX, typeset by the MathJax in the folder beside it."""
    parts = []
    for cell in tagged_cells(notebook):
        if cell["cell_type"] == "markdown":
            parts.append(markdown_to_html("".join(cell["source"])))
        else:
            parts += [output_to_html(output) for output in cell.get("outputs", [])]
    parts.insert(
        1,
        '<p class="source">Rendered from the executed notebook <code>project1.ipynb</code>, which holds the code '
        "and every output; the derivation of backpropagation and the finite-difference gradient checks are in "
        "<code>backprop.ipynb</code>. The numbers, tables and figures below are that run's.</p>",
    )
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
        + "\n".join(part for part in parts if part)
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


def render(notebook_path: Path, out_dir: Path, chromium: str | None) -> tuple[Path, Path | None]:
    """Write report.html, and report.pdf when a Chromium is given; return their paths (None for a PDF not made)."""
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    if chromium is None:
        # No browser to typeset with: the reader's browser does it, with the MathJax copied beside the page.
        html_path.write_text(build_html(notebook), encoding="utf-8")
        copy_mathjax(out_dir)
        return html_path, None
    typeset_and_print(build_html(notebook), html_path, pdf_path, chromium)
    return html_path, pdf_path


def main() -> None:
    """Parse the options, find a Chromium, and render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=REPO / "project1.ipynb")
    parser.add_argument("--out", type=Path, default=REPO / "report")
    options = parser.parse_args()

    def shown(path: Path) -> str:
        path = path.resolve()
        return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)

    reason = "no Chromium found"
    try:
        html_path, pdf_path = render(options.notebook, options.out, find_chromium())
    except ChromiumStartError as failure:
        reason = str(failure)
        html_path, pdf_path = render(options.notebook, options.out, None)
    print(f"wrote {shown(html_path)}")
    if pdf_path is None:
        # Not a failure: the HTML is the whole report, and the PDF is one optional install away.
        print(f"{reason}, so no PDF: run `{PDF_COMMAND}`, then `python report/render.py` again")
    else:
        print(f"wrote {shown(pdf_path)}")


if __name__ == "__main__":
    main()
