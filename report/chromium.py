"""Find a Chromium to print the report and to drive JupyterLab in the browser test: the system's Chrome, Chromium or
Edge, else Playwright's own. Standard library only, so render.py and tests/test_browser.py import it alone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "msedge")
PDF_COMMAND = "python -m playwright install chromium"
# Headless in a container or CI: no sandbox or GPU, and nothing fetched or set up in the background.
DISABLED = ("gpu", "background-networking", "component-update", "sync")
CHROMIUM_FLAGS = ["--no-sandbox", "--no-first-run", *(f"--disable-{feature}" for feature in DISABLED)]
# Where Chrome, Chromium and Edge (a Chromium that every Windows has) install themselves, under each of these roots.
WINDOWS_ROOTS = ("PROGRAMFILES", "PROGRAMFILES(X86)", "LOCALAPPDATA")  # environment variables
WINDOWS_FOLDERS = (("Google/Chrome", "chrome.exe"), ("Chromium", "chrome.exe"), ("Microsoft/Edge", "msedge.exe"))


def install_locations() -> list[Path]:
    """Where Chrome, Chromium and Edge install themselves on macOS and Windows, which do not put them on PATH."""
    mac = [
        folder / f"{name}.app" / "Contents" / "MacOS" / name
        for folder in (Path("/Applications"), Path.home() / "Applications")
        for name in ("Google Chrome", "Chromium", "Microsoft Edge")
    ]
    roots = [Path(root) for variable in WINDOWS_ROOTS if (root := os.environ.get(variable))]
    return mac + [root / folder / "Application" / exe for root in roots for folder, exe in WINDOWS_FOLDERS]


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
