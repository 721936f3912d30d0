"""Run All via JupyterLab's menu in headless Chromium on a repository copy; waits on the kernel's API and saved file."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from report.chromium import CHROMIUM_FLAGS, PDF_COMMAND, find_chromium

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".artifacts"
CHROMIUM = find_chromium()
HEADINGS = {
    "backprop.ipynb": ("Backpropagation by hand", "6. Questions"),
    "project1.ipynb": ("Project 1: gradient descent by hand, cars vs cats", "6. The report"),
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium found: `{PDF_COMMAND}` (or `apt-get install chromium`)"),
]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of the repository: (base URL, the copy's folder)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install -r requirements.txt")
    home = tmp_path_factory.mktemp("lab")
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    copy = home / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".artifacts", "__pycache__", "*.pdf", "*.html"))
    names = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_WORKSPACES_DIR")
    env = {**os.environ, **{name: str(home / name.lower()) for name in names}}  # nothing of the user's settings
    command = [
        *(sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"),
        *("--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={copy}", "--allow-root"),
    ]
    with (home / "server.log").open("w") as log:  # the server writes through its own copy of the descriptor
        server = subprocess.Popen(command, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                get_json(f"{base}/api/status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield base, copy
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with (
        sync_playwright() as playwright,
        playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS) as chromium,
    ):
        yield chromium


def kernel_state(base: str, notebook: str) -> str | None:
    """The execution state of the kernel of the notebook's session, or None while there is none."""
    for session in get_json(f"{base}/api/sessions"):
        if session["path"] == notebook:
            return get_json(f"{base}/api/kernels/{session['kernel']['id']}")["execution_state"]
    return None


def wait_for_idle_kernel(base: str, notebook: str, timeout: float) -> None:
    """Wait until the notebook's kernel exists and reports idle twice, a second apart."""
    deadline, idle_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        idle_since = (idle_since or time.monotonic()) if kernel_state(base, notebook) == "idle" else None
        if idle_since is not None and time.monotonic() - idle_since >= 1:
            return
        time.sleep(0.25)
    pytest.fail(f"the kernel of {notebook} did not become idle within {timeout} s")


def click_menu(page, menu: str, command: str) -> None:
    """Open a menu of the menu bar and click one of its entries, as a person would."""
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def save_and_read(page, base: str, folder: Path, notebook: str) -> dict:
    """Save through the File menu, wait until the server has the new file, and return it."""
    before = get_json(f"{base}/api/contents/{notebook}?content=0")["last_modified"]
    click_menu(page, "File", "docmanager:save")
    deadline, previous = time.monotonic() + 30, None
    while time.monotonic() <= deadline:
        time.sleep(0.25)
        if get_json(f"{base}/api/contents/{notebook}?content=0")["last_modified"] == before:
            continue
        # The server writes the file in place: read until it parses, twice alike.
        text = (folder / notebook).read_text()
        try:
            saved = json.loads(text)
        except json.JSONDecodeError:
            continue
        if text == previous:
            return saved
        previous = text
    pytest.fail(f"{notebook} was not saved")


def run_all(page, base: str, folder: Path, notebook: str) -> dict:
    """Run All Cells through the menu, then save until every code cell has run and the kernel is idle."""
    click_menu(page, "Run", "runmenu:run-all")
    deadline = time.monotonic() + 900
    while True:
        wait_for_idle_kernel(base, notebook, timeout=deadline - time.monotonic())
        saved = save_and_read(page, base, folder, notebook)
        all_ran = all(cell["execution_count"] is not None for cell in saved["cells"] if cell["cell_type"] == "code")
        if all_ran and kernel_state(base, notebook) == "idle":
            return saved
        if time.monotonic() > deadline:
            pytest.fail(f"Run All of {notebook} did not finish")


def check_saved_notebook(saved: dict) -> None:
    """Counts 1..N in order, no error, traceback or stderr output, one image per figure cell."""
    code_cells = [cell for cell in saved["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code_cells] == list(range(1, len(code_cells) + 1))
    for number, cell in enumerate(code_cells, start=1):
        for output in cell["outputs"]:
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            assert output["output_type"] != "error", f"cell {number}: {output.get('ename')}: {output.get('evalue')}"
            assert output.get("name") != "stderr", f"cell {number} wrote to stderr: {text[:500]}"  # streams only
            assert "Traceback (most recent call last)" not in text, f"cell {number}"
        images = [output for output in cell["outputs"] if "image/png" in output.get("data", {})]
        source = "".join(cell["source"])
        draws_a_figure = "figure = h.plot_" in source or source.startswith('Image("figures/')
        assert len(images) == (1 if draws_a_figure else 0), f"cell {number}: {len(images)} images"


def check_rendered_page(page, heading: str) -> None:
    """The heading in view is rendered as a heading, its math by MathJax, and no raw $$ is left in the text."""
    title = page.locator(".jp-RenderedMarkdown h1, .jp-RenderedMarkdown h2, .jp-RenderedMarkdown h3", has_text=heading)
    title.first.scroll_into_view_if_needed()
    title.first.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length > 0")
    visible_text = page.locator(".jp-RenderedMarkdown").all_inner_texts()
    assert visible_text and not any("$$" in text for text in visible_text), "raw $$ in rendered Markdown"


@pytest.mark.parametrize("notebook", sorted(HEADINGS))
def test_run_all_in_jupyterlab(lab, browser, notebook):
    base, folder = lab
    with browser.new_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{base}/lab/tree/{notebook}?reset", wait_until="domcontentloaded")
        page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
        wait_for_idle_kernel(base, notebook, timeout=120)
        first_heading, last_heading = HEADINGS[notebook]
        check_rendered_page(page, first_heading)
        check_saved_notebook(run_all(page, base, folder, notebook))
        check_rendered_page(page, last_heading)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{Path(notebook).stem}-run-all.png"))
