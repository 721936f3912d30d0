"""The rendered report, read as a reader would: its text, its pages, its figures, and that it is current."""

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "report"))

import render  # noqa: E402

MISSING = [tool for tool in ("pdftotext", "pdftoppm", "pdfimages") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(render.find_chromium() is None, reason="no Chromium: `apt-get install chromium`"),
    pytest.mark.skipif(not render.MATHJAX.is_file(), reason="no local MathJax: `apt-get install libjs-mathjax`"),
    pytest.mark.skipif(bool(MISSING), reason=f"no {', '.join(MISSING)}: `apt-get install poppler-utils`"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path]:
    return render.render(REPO / "project1.ipynb", tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def results() -> dict:
    return json.loads((REPO / "figures" / "results.json").read_text())


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def report_figures(notebook: dict) -> list[str]:
    """The base64 PNG of every figure the report takes from the notebook."""
    return [
        "".join(output["data"]["image/png"]).strip()
        for cell in render.tagged_cells(notebook)
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]


def test_the_report_quotes_the_run_and_shows_no_raw_tex(rendered, results):
    text = pdf_text(rendered[1])
    selected = results["selected"]
    assert f"selects {selected['name']}" in " ".join(text.split())
    assert f"{selected['test_acc']:.4f}" in text
    for raw in ("$$", "\\mathcal", "\\begin", "\\frac", "$\\"):
        assert raw not in text, f"raw TeX {raw!r} in the PDF"
    for heading in ("Approach and design choices", "Answers", "(a) Which PyTorch method", "(g) Comments"):
        assert heading in text
    assert "import helpers" not in text and "h.plot_" not in text, "code leaked into the report"


def test_the_report_has_its_pages_and_every_figure(rendered, tmp_path):
    notebook = json.loads((REPO / "project1.ipynb").read_text())
    listing = subprocess.run(["pdfimages", "-list", str(rendered[1])], capture_output=True, text=True, check=True)
    images = [line for line in listing.stdout.splitlines()[2:] if " image " in line]
    assert len(images) == len(report_figures(notebook)) == 9
    text = pdf_text(rendered[1])
    for number in range(1, 10):
        assert f"Figure {number}." in text, f"caption of figure {number} missing"
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(rendered[1]), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert 5 <= len(pages) <= 20, f"{len(pages)} pages"
    assert all(page.stat().st_size > 2000 for page in pages), "an empty page"


def test_rendering_again_gives_the_same_bytes(rendered, tmp_path):
    again = render.render(REPO / "project1.ipynb", tmp_path)
    for first, second in zip(rendered, again, strict=True):
        assert hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest(), first.name


def test_the_committed_report_is_current():
    """The committed HTML holds exactly the notebook's figures, and the committed PDF quotes this run's numbers."""
    notebook = json.loads((REPO / "project1.ipynb").read_text())
    committed_html = (REPO / "report" / "report.html").read_text()
    for figure in report_figures(notebook):
        assert figure in committed_html, "report/report.html is stale: run python report/render.py"
    selected = json.loads((REPO / "figures" / "results.json").read_text())["selected"]
    assert f"{selected['test_acc']:.4f}" in pdf_text(REPO / "report" / "report.pdf")
    assert base64.b64decode(report_figures(notebook)[0])[:4] == b"\x89PNG"
