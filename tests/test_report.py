"""The rendered report, read as a reader would: its text, its pages, its figures, and that it is current.

Without a Chromium, the report must still be made (HTML only) and the run must still succeed; those tests run
everywhere. The tests that print the PDF need a Chromium and poppler, and carry the marker `browser`.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "report"))

import render  # noqa: E402

CHROMIUM = render.find_chromium()
MISSING = [tool for tool in ("pdftotext", "pdftoppm", "pdfimages") if shutil.which(tool) is None]
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium: `{render.PDF_COMMAND}` (or `apt-get install chromium`)"),
    pytest.mark.skipif(bool(MISSING), reason=f"no {', '.join(MISSING)}: `apt-get install poppler-utils`"),
]
NO_PDF_LINE = f"so no PDF: run `{render.PDF_COMMAND}`, then `python report/render.py` again"
# Inline TeX left for a reader to see: a dollar, something that is not a space, anything, a dollar.
RAW_TEX = re.compile(r"\$[^$\s][^$]*\$|\\[A-Za-z]{2,}")


def run_main(monkeypatch, capsys, out: Path) -> list[str]:
    """Run render.py's main() as the command line does, into out; return the lines it printed."""
    monkeypatch.setattr(sys, "argv", ["render.py", "--out", str(out)])
    render.main()
    return capsys.readouterr().out.splitlines()


def visible_text(page_html: str) -> str:
    """The text of a page as a reader sees it: no head, scripts, styles, tags or SVG."""
    body = page_html[page_html.index("<body>") :]
    body = re.sub(r"<(script|style|svg|mjx-assistive-mml)\b.*?</\1>", "", body, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", "", body)


# Without a Chromium: the main job succeeds, writes the HTML, and says in one line how to get the PDF.


def test_without_chromium_render_writes_the_html_and_one_line_and_succeeds(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(render, "find_chromium", lambda: None)
    lines = run_main(monkeypatch, capsys, tmp_path)
    assert lines == [f"wrote {tmp_path / 'report.html'}", f"no Chromium found, {NO_PDF_LINE}"]
    assert not (tmp_path / "report.pdf").exists()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    # The page finds MathJax by a relative path, so it works wherever the folder is, on any OS.
    assert f'<script src="{render.MATHJAX_FOLDER}/{render.MATHJAX_FILE}"></script>' in page
    copied = tmp_path / render.MATHJAX_FOLDER / render.MATHJAX_FILE
    assert copied.read_bytes() == render.packaged_mathjax().read_bytes()
    assert RAW_TEX.search(visible_text(page)), "the math should still be TeX, for the reader's browser to typeset"
    notebook = json.loads((REPO / "project1.ipynb").read_text(encoding="utf-8"))
    assert all(figure in page for figure in report_figures(notebook))


def test_with_chromium_hidden_from_path_the_command_exits_0(tmp_path):
    """The README's `python report/render.py`, on a machine where neither PATH nor Playwright has a Chromium."""
    if any(path.is_file() for path in render.install_locations()):
        pytest.skip("a Chrome, Chromium or Edge is installed outside PATH here, so it cannot be hidden")
    env = {**os.environ, "PATH": "", "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-browsers")}
    out = tmp_path / "report"
    command = [sys.executable, str(REPO / "report" / "render.py"), "--out", str(out)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == [f"wrote {out / 'report.html'}", f"no Chromium found, {NO_PDF_LINE}"]
    assert (out / "report.html").stat().st_size > 100_000 and not (out / "report.pdf").exists()


def test_a_chromium_that_does_not_start_still_gives_the_html(monkeypatch, capsys, tmp_path):
    broken = tmp_path / "not-a-browser"
    monkeypatch.setattr(render, "find_chromium", lambda: str(broken))
    lines = run_main(monkeypatch, capsys, tmp_path / "out")
    assert lines[0] == f"wrote {tmp_path / 'out' / 'report.html'}"
    assert lines[1].startswith(f"{broken} did not start (") and lines[1].endswith(NO_PDF_LINE)
    assert len(lines) == 2 and not (tmp_path / "out" / "report.pdf").exists()


def test_the_system_chromium_is_found_where_windows_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    chrome = tmp_path / "Google" / "Chrome" / "Application" / "chrome.exe"
    assert chrome in render.install_locations()
    if any(path.is_file() for path in render.install_locations()):
        pytest.skip("a Chrome, Chromium or Edge is installed outside PATH here, and would be found first")
    assert render.system_chromium() is None
    chrome.parent.mkdir(parents=True)
    chrome.touch()
    assert render.system_chromium() == str(chrome)


def test_playwrights_chromium_is_used_when_the_system_has_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(render, "install_locations", list)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert render.find_chromium() is None
    # Where `python -m playwright install chromium` puts it, for this playwright and this OS.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        managed = Path(playwright.chromium.executable_path)
    assert managed.is_relative_to(tmp_path)
    managed.parent.mkdir(parents=True)
    managed.touch()
    assert render.find_chromium() == str(managed)


def test_render_py_names_no_system_path():
    source = (REPO / "report" / "render.py").read_text(encoding="utf-8")
    assert "/usr/" not in source and "libjs-mathjax" not in source


# With a Chromium: the PDF, typeset by the packaged MathJax.


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """The report of the committed notebook, rendered with Chromium into a temporary folder: (HTML, PDF)."""
    return render.render(REPO / "project1.ipynb", tmp_path_factory.mktemp("report"), CHROMIUM)


@pytest.fixture(scope="module")
def results() -> dict:
    """The run's numbers."""
    return json.loads((REPO / "figures" / "results.json").read_text())


def pdf_text(pdf: Path) -> str:
    """The text of a PDF, laid out as on its pages."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def report_figures(notebook: dict) -> list[str]:
    """The base64 PNG of every figure the report takes from the notebook."""
    return [
        "".join(output["data"]["image/png"]).strip()
        for cell in render.tagged_cells(notebook)
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


class TestWithChromium:
    pytestmark = needs_chromium

    def test_the_report_quotes_the_run_and_shows_no_raw_tex(self, rendered, results):
        text = pdf_text(rendered[1])
        selected = results["selected"]
        assert f"selects {selected['name']}" in " ".join(text.split())
        assert f"{selected['test_acc']:.4f}" in text
        assert not RAW_TEX.findall(text), "raw TeX in the PDF"
        for heading in ("Approach and design choices", "Answers", "(a) Which PyTorch method", "(g) Comments"):
            assert heading in text
        assert "import helpers" not in text and "h.plot_" not in text, "code leaked into the report"

    def test_the_html_is_typeset_by_the_packaged_mathjax_and_needs_no_script(self, rendered):
        page = rendered[0].read_text(encoding="utf-8")
        # <mjx-container jax="SVG"> is MathJax 3's SVG output; a system MathJax 2 would draw class="MathJax_SVG".
        assert page.count('<mjx-container class="MathJax" jax="SVG"') >= 10
        assert "MathJax_SVG" not in page and "<script" not in page
        assert not RAW_TEX.search(visible_text(page))

    def test_the_html_made_without_chromium_typesets_when_opened(self, rendered, tmp_path):
        """A reader's browser typesets the script version from the MathJax copied beside it, loading nothing else."""
        from playwright.sync_api import sync_playwright

        html_path, _ = render.render(REPO / "project1.ipynb", tmp_path, None)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=render.CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.goto(html_path.as_uri())
                page.wait_for_function("window.typesetDone === true", timeout=60_000)
                drawn = page.locator("mjx-container").count()
                shown = page.locator("body").inner_text()
            finally:
                browser.close()
        assert drawn == rendered[0].read_text(encoding="utf-8").count("<mjx-container")
        assert not RAW_TEX.search(shown)
        mathjax = (tmp_path / render.MATHJAX_FOLDER / render.MATHJAX_FILE).as_uri()
        assert [url for url in requests if not url.startswith("data:")] == [html_path.as_uri(), mathjax]

    def test_tex_that_mathjax_cannot_typeset_stops_the_render(self, tmp_path):
        cell = {
            "cell_type": "markdown",
            "metadata": {"tags": ["report-head"]},
            "source": ["# T\n\n$\\frac{1}$, $\\nope$"],
        }
        notebook = tmp_path / "notebook.ipynb"
        notebook.write_text(json.dumps({"cells": [cell]}))
        expected = r"2 formula\(s\): Missing argument for \\frac; Undefined control sequence \\nope"
        with pytest.raises(SystemExit, match=expected):
            render.render(notebook, tmp_path / "out", CHROMIUM)

    def test_the_report_has_its_pages_and_every_figure(self, rendered, tmp_path):
        notebook = json.loads((REPO / "project1.ipynb").read_text())
        listing = subprocess.run(["pdfimages", "-list", str(rendered[1])], capture_output=True, text=True, check=True)
        images = [line for line in listing.stdout.splitlines()[2:] if " image " in line]
        assert len(images) == len(report_figures(notebook)) == 10
        text = pdf_text(rendered[1])
        for number in range(1, 11):
            assert f"Figure {number}." in text, f"caption of figure {number} missing"
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(rendered[1]), str(tmp_path / "page")], check=True)
        pages = sorted(tmp_path.glob("page-*.png"))
        assert 5 <= len(pages) <= 20, f"{len(pages)} pages"
        assert all(page.stat().st_size > 2000 for page in pages), "an empty page"

    def test_rendering_again_gives_the_same_bytes(self, rendered, tmp_path):
        again = render.render(REPO / "project1.ipynb", tmp_path, CHROMIUM)
        for first, second in zip(rendered, again, strict=True):
            assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()

    def test_the_committed_report_is_current(self):
        """The committed HTML holds exactly the notebook's figures, and the committed PDF quotes this run's numbers."""
        notebook = json.loads((REPO / "project1.ipynb").read_text())
        committed_html = (REPO / "report" / "report.html").read_text()
        for figure in report_figures(notebook):
            assert figure in committed_html, "report/report.html is stale: run python report/render.py"
        selected = json.loads((REPO / "figures" / "results.json").read_text())["selected"]
        assert f"{selected['test_acc']:.4f}" in pdf_text(REPO / "report" / "report.pdf")
        assert base64.b64decode(report_figures(notebook)[0])[:4] == b"\x89PNG"
