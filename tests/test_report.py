"""The rendered report as a reader sees it, the committed files current; `browser` tests need Chromium and poppler."""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from analysis import spread
from report import chromium
from report import render as render_module

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CHROMIUM = chromium.find_chromium()
MISSING = [tool for tool in ("pdftotext", "pdftoppm", "pdfimages") if shutil.which(tool) is None]
needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium: `{chromium.PDF_COMMAND}` (or apt-get install chromium)"),
    pytest.mark.skipif(bool(MISSING), reason=f"no {', '.join(MISSING)}: `apt-get install poppler-utils`"),
]
NO_PDF_LINE = f"so no PDF: run `{chromium.PDF_COMMAND}`, then `python report/render.py` again"
RAW_TEX = re.compile(r"\$[^$\s][^$]*\$|\\[A-Za-z]{2,}")  # TeX left for a reader to see: inline $...$ or a \command
PLACED_FIGURE = re.compile(r"""{%-?\s*call\s+figure\(\s*["']([^"']+)["']\s*\)""")
MAX_BLANK_FOOT = 0.15


def placed_figures() -> list[str]:
    """The labels of the figures the report's templates place, in order."""
    sources = [(render_module.HERE / name).read_text(encoding="utf-8") for name in ("template.md", "summary.md")]
    return [label for source in sources for label in PLACED_FIGURE.findall(source)]


@pytest.fixture
def readme_copy(tmp_path, monkeypatch) -> Path:
    """Point render.py's README at a copy with stale results; the repository's README must stay as it is."""
    before = README.read_bytes()
    copy = tmp_path / "README.md"
    copy.write_text(render_module.readme_with_results(before.decode("utf-8"), "stale results\n"), encoding="utf-8")
    monkeypatch.setattr(render_module, "README", copy)
    yield copy
    assert README.read_bytes() == before, "a test wrote the repository's README.md"


def run_main(monkeypatch, capsys, out: Path, *options: str) -> list[str]:
    """Run render.py's main() as the command line does, into out; return the lines it printed."""
    monkeypatch.setattr(sys, "argv", ["render.py", "--out", str(out), *options])
    render_module.main()
    return capsys.readouterr().out.splitlines()


def visible_text(page_html: str) -> str:
    """The text of a page as a reader sees it: no head, scripts, styles, tags or SVG."""
    body = page_html[page_html.index("<body>") :]
    body = re.sub(r"<(script|style|svg|mjx-assistive-mml)\b.*?</\1>", "", body, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", "", body)


def assert_html_only(out: Path, lines: list[str], reason: str = "no Chromium found") -> None:
    """The run wrote the HTML and the Markdown, no PDF, and one line (`reason` a regex) saying how to get the PDF."""
    assert lines[0] == f"wrote {out / 'report.html'}" and len(lines) == 2, lines
    assert re.fullmatch(f"{reason}, {re.escape(NO_PDF_LINE)}", lines[1]), lines[1]
    assert not (out / "report.pdf").exists()
    assert (out / "report.md").read_text(encoding="utf-8") == render_module.report_markdown()


@pytest.mark.parametrize("broken", [False, True], ids=["no-chromium", "chromium-does-not-start"])
def test_without_a_working_chromium_the_render_writes_the_html(broken, monkeypatch, capsys, tmp_path, readme_copy):
    before = readme_copy.read_bytes()
    found = str(tmp_path / "not-a-browser") if broken else None
    monkeypatch.setattr(render_module, "find_chromium", lambda: found)
    out = tmp_path / "out"
    reason = re.escape(f"{found} did not start (") + r".*\)" if broken else "no Chromium found"
    assert_html_only(out, run_main(monkeypatch, capsys, out), reason)
    # Without --readme, the README is not written, not even with the same bytes.
    assert readme_copy.read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md", "out"]
    page = (out / "report.html").read_text(encoding="utf-8")
    # The page finds MathJax by a relative path, so it works wherever the folder is, on any OS.
    assert f'<script src="{render_module.MATHJAX_FOLDER}/{render_module.MATHJAX_FILE}"></script>' in page
    copied = out / render_module.MATHJAX_FOLDER / render_module.MATHJAX_FILE
    assert copied.read_bytes() == render_module.packaged_mathjax().read_bytes()
    assert RAW_TEX.search(visible_text(page)), "the math should still be TeX, for the reader's browser to typeset"
    pngs = [(REPO / "figures" / f"{label}.png").read_bytes() for label in placed_figures()]
    assert all(f"data:image/png;base64,{base64.b64encode(png).decode()}" in page for png in pngs)


def test_decimals_round_an_exact_half_away_from_zero_and_print_a_true_minus():
    # 1/16 and 3/16 are exact in binary: Python's format would print 0.062 (half to even) for the first.
    assert [render_module.decimals(value) for value in (1 / 16, 3 / 16, -1 / 16)] == ["0.063", "0.188", "−0.063"]
    assert render_module.decimals(0.0004999, 3) == "0.000" and render_module.decimals(2.19, 2, signed=True) == "+2.19"


def test_a_range_of_equal_counts_is_one_number():
    assert [render_module.value_range(spread(counts)) for counts in ([0, 0, 0], [4, 1, 2], [3, 3])] == ["0", "1–4", "3"]


def test_a_p_value_below_0_001_is_quoted_as_such():
    nbsp = "\u00a0"  # a p-value is never broken across lines
    assert [render_module.p_value(p) for p in (0.0374, 0.001, 0.00099, 0.0005, 1.3e-5)] == [
        f"p{nbsp}={nbsp}0.037",
        f"p{nbsp}={nbsp}0.001",
        f"p{nbsp}<{nbsp}0.001",
        f"p{nbsp}<{nbsp}0.001",
        f"p{nbsp}<{nbsp}0.001",
    ]


def test_with_readme_render_rewrites_the_readme_s_results(monkeypatch, capsys, tmp_path, readme_copy):
    stale = readme_copy.read_text(encoding="utf-8")
    monkeypatch.setattr(render_module, "find_chromium", lambda: None)
    lines = run_main(monkeypatch, capsys, tmp_path / "out", "--readme")
    assert lines[-1] == f"wrote {readme_copy}"
    summary = render_module.report_markdown(template="summary.md")
    assert readme_copy.read_text(encoding="utf-8") == render_module.readme_with_results(stale, summary)


def test_with_chromium_hidden_from_path_the_command_exits_0(tmp_path):
    """The README's `python report/render.py`, run on a copy of its inputs, with no Chromium on PATH or Playwright's."""
    if any(path.is_file() for path in chromium.install_locations()):
        pytest.skip("a Chrome, Chromium or Edge is installed outside PATH here, so it cannot be hidden")
    copy = tmp_path / "repo"
    shutil.copytree(REPO / "report", copy / "report", ignore=shutil.ignore_patterns("*.pdf", "*.html", "__pycache__"))
    shutil.copytree(REPO / "figures", copy / "figures")
    for path in [README, *REPO.glob("*.py")]:  # the modules the renderer imports are among these
        shutil.copy(path, copy / path.name)
    before = README.read_bytes()
    env = {**os.environ, "PATH": "", "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "no-browsers")}
    out = tmp_path / "report"
    command = [sys.executable, str(copy / "report" / "render.py"), "--out", str(out)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr
    assert_html_only(out, finished.stdout.splitlines())
    assert (out / "report.html").stat().st_size > 100_000
    assert (copy / "README.md").read_bytes() == before


def test_the_system_chromium_is_found_where_windows_installs_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    chrome = tmp_path / "Google" / "Chrome" / "Application" / "chrome.exe"
    assert chrome in chromium.install_locations()
    if any(path.is_file() for path in chromium.install_locations()):
        pytest.skip("a Chrome, Chromium or Edge is installed outside PATH here, and would be found first")
    assert chromium.system_chromium() is None
    chrome.parent.mkdir(parents=True)
    chrome.touch()
    assert chromium.system_chromium() == str(chrome)


def test_playwrights_chromium_is_used_when_the_system_has_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(chromium, "install_locations", list)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert chromium.find_chromium() is None
    # Where `python -m playwright install chromium` puts it, for this playwright and this OS.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        managed = Path(playwright.chromium.executable_path)
    assert managed.is_relative_to(tmp_path)
    managed.parent.mkdir(parents=True)
    managed.touch()
    assert chromium.find_chromium() == str(managed)


@pytest.mark.parametrize("name", ["render.py", "chromium.py"])
def test_the_renderer_names_no_system_path(name):
    source = (REPO / "report" / name).read_text(encoding="utf-8")
    assert "/usr/" not in source and "libjs-mathjax" not in source


# With a Chromium: the PDF, typeset by the packaged MathJax.
@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    """The report of the committed results, rendered with Chromium into a temporary folder: (HTML, PDF)."""
    before = README.read_bytes()
    html_path, pdf_path = render_module.render(tmp_path_factory.mktemp("report") / "out", CHROMIUM)
    assert README.read_bytes() == before
    return html_path, pdf_path


def pdf_text(pdf: Path) -> str:
    """The text of a PDF laid out as on its pages, each page ended by a form feed."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def pdf_pages(pdf: Path) -> tuple[list[str], int]:
    """The text of each page of a PDF, and how many pages (the body's) come before the one headed Appendix."""
    texts = pdf_text(pdf).split("\f")[:-1]
    body_pages = next((n for n, text in enumerate(texts) if "Appendix" in map(str.strip, text.splitlines())), None)
    assert body_pages is not None, "no page holds the heading Appendix"
    return texts, body_pages


class TestWithChromium:
    pytestmark = needs_chromium

    def test_the_report_quotes_the_run_and_shows_no_raw_tex(self, rendered):
        text = pdf_text(rendered[1])
        flowing = " ".join(text.split())
        selected = json.loads((REPO / "figures" / "results.json").read_text(encoding="utf-8"))["selected"]
        assert f"We select {selected['name']}" in flowing
        assert f"{selected['test_acc']:.3f}" in text
        assert not RAW_TEX.findall(text), "raw TeX in the PDF"
        assert "Figure ?" not in flowing and "Table ?" not in flowing
        for heading in ("Summary", "Approach and design choices", "Answers", "(a) Which PyTorch method", "Appendix"):
            assert heading in flowing
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

        html_path, _ = render_module.render(tmp_path / "out", None)
        with (
            sync_playwright() as playwright,
            playwright.chromium.launch(executable_path=CHROMIUM, args=chromium.CHROMIUM_FLAGS) as browser,
        ):
            page, requests = browser.new_page(), []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(html_path.as_uri())
            page.wait_for_function("window.typesetDone === true", timeout=60_000)
            drawn = page.locator("mjx-container").count()
            shown = page.locator("body").inner_text()
        assert drawn == rendered[0].read_text(encoding="utf-8").count("<mjx-container")
        assert not RAW_TEX.search(shown)
        mathjax = (tmp_path / "out" / render_module.MATHJAX_FOLDER / render_module.MATHJAX_FILE).as_uri()
        assert [url for url in requests if not url.startswith("data:")] == [html_path.as_uri(), mathjax]

    def test_tex_that_mathjax_cannot_typeset_stops_the_render(self, tmp_path):
        page = render_module.build_html("# T\n\n$\\frac{1}$, $\\nope$\n")
        expected = r"2 formula\(s\): Missing argument for \\frac; Undefined control sequence \\nope"
        with pytest.raises(SystemExit, match=expected):
            render_module.typeset_and_print(page, tmp_path / "report.html", tmp_path / "report.pdf", CHROMIUM)

    def test_every_figure_placed_is_linked_embedded_captioned_and_printed(self, rendered):
        labels = placed_figures()
        assert len(labels) >= 5 and len(set(labels)) == len(labels), labels
        markdown = (rendered[0].parent / "report.md").read_text(encoding="utf-8")
        for label in labels:
            assert (REPO / "figures" / f"{label}.png").is_file(), label
            link = re.search(rf"!\[([^\n]*?)\]\(\.\./figures/{re.escape(label)}\.png\)", markdown)
            assert link and link.group(1).strip(), f"no image link with alternative text for {label}"
        page = rendered[0].read_text(encoding="utf-8")
        images = re.findall(r"<img\b[^>]*>", page)
        assert len(images) == len(labels), f"{len(images)} images in the HTML for {len(labels)} figures"
        for image in images:
            assert re.search(r'\salt="[^"]*\S[^"]*"', image), f"an image without alternative text: {image[:120]}"
            assert 'src="data:image/png;base64,' in image, f"an image not embedded: {image[:120]}"
        captions = re.findall(r"<figure\b[^>]*>\s*<img\b[^>]*>\s*<figcaption>Figure (\d+)\.", page)
        assert captions == [str(number) for number in range(1, len(labels) + 1)], "a figure without its caption"
        listing = subprocess.run(["pdfimages", "-list", str(rendered[1])], capture_output=True, text=True, check=True)
        assert len([line for line in listing.stdout.splitlines()[2:] if " image " in line]) == len(labels)
        text = pdf_text(rendered[1])
        for number in range(1, len(labels) + 1):
            assert f"Figure {number}." in text, f"caption of figure {number} missing"
        assert 5 <= text.count("\f") <= 30, "pages"

    def test_rendering_again_gives_the_same_bytes(self, rendered, tmp_path):
        again = render_module.render(tmp_path / "out", CHROMIUM)
        for first, second in zip(rendered, again, strict=True):
            assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()

    def test_the_committed_html_and_pdf_are_current(self, rendered):
        committed_html = (REPO / "report" / "report.html").read_text(encoding="utf-8")
        fresh_html = rendered[0].read_text(encoding="utf-8")
        stale = "is stale: run python report/render.py"
        assert visible_text(committed_html).split() == visible_text(fresh_html).split(), f"report/report.html {stale}"
        assert pdf_text(REPO / "report" / "report.pdf").split() == pdf_text(rendered[1]).split(), f"report.pdf {stale}"

    def test_the_body_and_the_appendix_keep_to_their_length(self, rendered):
        """A body of at most 6 pages and 2,400 words (pdftotext, tables and captions included), an appendix of 5."""
        texts, body_pages = pdf_pages(rendered[1])
        words = sum(len(text.split()) for text in texts[:body_pages])
        assert body_pages <= 6, f"the body takes {body_pages} pages"
        assert len(texts) - body_pages <= 5, f"the appendix takes {len(texts) - body_pages} pages"
        assert words <= 2400, f"the body has {words} words"

    def test_no_caption_is_parted_from_its_table(self, rendered):
        """A page that opens with a table's caption has left the table at the foot of the page before."""
        texts, _ = pdf_pages(rendered[1])
        orphans = [n for n, text in enumerate(texts, 1) if re.match(r"\s*Table \d+\. ", text)]
        assert not orphans, f"pages {orphans} open with a caption parted from its table"

    def test_no_page_ends_in_a_large_blank(self, rendered, tmp_path):
        """Every page but the body's and the report's last has ink within 15% of the page's height from its foot."""
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(rendered[1]), str(tmp_path / "page")], check=True)
        pages = [np.asarray(Image.open(path).convert("L")) for path in sorted(tmp_path.glob("page-*.png"))]
        texts, body_pages = pdf_pages(rendered[1])
        assert len(pages) == len(texts) >= 3
        inked = [np.flatnonzero((page < 245).any(axis=1)) for page in pages]
        # The footer: the last band of ink on every page, below a gap. A reader measures the blank against the whole
        # page, so a full page, which ends at the bottom margin, counts as about 8% blank.
        footer_top = min(rows[np.flatnonzero(np.diff(rows) > 1)[-1] + 1] for rows in inked)
        last_ink = [rows[rows < footer_top].max(initial=-1) for rows in inked]
        fractions = {
            number: (page.shape[0] - 1 - last) / page.shape[0]
            for number, (page, last) in enumerate(zip(pages, last_ink, strict=True), 1)
        }
        exempt = {body_pages, len(pages)}  # the last pages of the body and of the appendix
        shown = ", ".join(f"{n}: {f:.0%}{' (exempt)' if n in exempt else ''}" for n, f in fractions.items())
        too_blank = [n for n, fraction in fractions.items() if n not in exempt and fraction > MAX_BLANK_FOOT]
        area = f"{pages[0].shape[0]} rows a page at 40 dpi"
        assert not too_blank, f"pages {too_blank} end over {MAX_BLANK_FOOT:.0%} blank ({area}); foot per page: {shown}"
