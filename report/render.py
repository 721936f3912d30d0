"""Render the report (report/report.html and report/report.pdf) from the executed project1.ipynb.

Run from anywhere:  python report/render.py

The report holds no code: it is made of the notebook cells tagged `report-head` (title, approach), `report` (results,
tables and figures with their captions) and `report-answers` (questions (a)-(g)), in that order. From code cells it
takes only the outputs. Math is typeset offline by a local MathJax (Debian's libjs-mathjax) in headless Chromium,
which then prints the PDF. The HTML is saved after typesetting, scripts removed, so it needs nothing else to show.
Rendering unchanged notebooks again gives the same bytes: the PDF's dates and document id are fixed.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import tempfile
from pathlib import Path

from nbconvert.filters.markdown_mistune import markdown2html_mistune

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("report-head", "report", "report-answers")
MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
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
p.source { color: #444; font-size: 9.5pt; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 8.5pt; }
th, td { border: 1px solid #bbb; padding: 2px 6px; text-align: left; }
th { background: #eee; }
figure { margin: 1em 0; break-inside: avoid; text-align: center; }
figure img { max-width: 100%; max-height: 150mm; }
figcaption, p.caption { font-size: 9pt; color: #333; text-align: left; }
pre { font-size: 8.5pt; background: #f6f6f6; padding: 4px 6px; white-space: pre-wrap; }
code { font-size: 9pt; }
"""


def find_chromium() -> str | None:
    """The path of a Chromium the report can be printed with, or None."""
    for name in CHROMIUM_CANDIDATES:
        if path := shutil.which(name):
            return path
    return None


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
    # A caption is a paragraph made of one emphasised sentence that starts "Figure N."
    return re.sub(r"<p><em>(Figure \d+\..*?)</em></p>", r'<p class="caption">\1</p>', rendered, flags=re.DOTALL)


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
    """The report as one HTML page, math still in TeX for MathJax."""
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
    mathjax_config = (
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["$", "$"]], '
        'processEscapes: true}, SVG: {font: "TeX"}, messageStyle: "none"});</script>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Project 1 report</title>'
        f"<style>{STYLE}</style>{mathjax_config}"
        f'<script src="{MATHJAX.as_uri()}?config=TeX-AMS_SVG"></script></head>\n<body>\n'
        + "\n".join(part for part in parts if part)
        + "\n</body></html>\n"
    )


def typeset_and_print(page_html: str, html_path: Path, pdf_path: Path, chromium: str) -> None:
    """Typeset the math in Chromium, save the typeset page without scripts, and print it to PDF."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        source = Path(folder) / "report.html"
        source.write_text(page_html)
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(source.as_uri())
            page.wait_for_function("window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0", timeout=60_000)
            page.evaluate("() => MathJax.Hub.Queue(() => { window.typesetDone = true; })")
            page.wait_for_function("window.typesetDone === true", timeout=60_000)
            page.evaluate(
                "() => document.querySelectorAll('script, #MathJax_Message').forEach(element => element.remove())"
            )
            html_path.write_text("<!DOCTYPE html>\n" + page.content() + "\n")
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


def render(notebook_path: Path, out_dir: Path) -> tuple[Path, Path]:
    """Write report.html and report.pdf into out_dir; return their paths."""
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: install it (Debian: apt-get install chromium) to print the report")
    if not MATHJAX.is_file():
        raise SystemExit(f"no local MathJax at {MATHJAX}: install it (Debian: apt-get install libjs-mathjax)")
    notebook = json.loads(notebook_path.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = out_dir / "report.html", out_dir / "report.pdf"
    typeset_and_print(build_html(notebook), html_path, pdf_path, chromium)
    return html_path, pdf_path


def main() -> None:
    """Parse the options and render."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", type=Path, default=REPO / "project1.ipynb")
    parser.add_argument("--out", type=Path, default=REPO / "report")
    options = parser.parse_args()
    for path in render(options.notebook, options.out):
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


if __name__ == "__main__":
    main()
