"""Find a Chromium to print the report and to drive JupyterLab in the browser test: the system's Chrome, Chromium or
Edge, else Playwright's own (`python -m playwright install chromium`). Standard library only, so that its users
(report/render.py and tests/test_browser.py) import it without the renderer."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
