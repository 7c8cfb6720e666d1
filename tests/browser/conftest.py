"""A real JupyterLab (the extension enabled, the real model in its store) and a headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` driven by Playwright; no browser is ever downloaded.
Without it the browser tests skip, saying so (CI installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import free_port, stop_process, wait_http

CHROMIUM = Path("/usr/bin/chromium")
LAB_TOKEN = "lab-token-456"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@contextlib.contextmanager
def launch_lab(root: Path, store: Path, *, base_url: str = "/", env: dict[str, str] | None = None,
               args: tuple[str, ...] = (), settings: dict[str, dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """A JupyterLab server process under ``root`` with the mullama extension on ``store``.

    ``settings`` maps "<package>/<plugin>" to user settings for it (written as JupyterLab would).
    """
    all_settings = {
        # No "get Jupyter news?" toast over the page, and no update check (no network).
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        **(settings or {}),
    }
    for plugin, values in all_settings.items():
        path = root / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port = free_port()
    full_env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "MULLAMA_CACHE_DIR": str(store),
                "JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(root / "workspaces"), "IPYTHONDIR": str(root / "ipython"),
                **(env or {})}
    for var in ("MULLAMA_HOST", "MULLAMA_TOKEN"):
        full_env.pop(var, None)
    log = (root / "lab.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={LAB_TOKEN}", f"--ServerApp.root_dir={root}",
         f"--ServerApp.base_url={base_url}", *args],
        env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
    )
    url = f"http://127.0.0.1:{port}{base_url}"
    try:
        wait_http(url + "api/status", timeout=120, proc=proc)
        yield {"url": url, "token": LAB_TOKEN, "root": root, "log": root / "lab.log", "store": store}
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def lab(model_store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with launch_lab(tmp_path_factory.mktemp("lab"), model_store_dir) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Any]:
    # Function-scoped on purpose: Playwright's sync API keeps its event loop running while the test runs,
    # and pytest-jupyter's autouse loop fixture must not pick that loop up (and close it) in a later test.
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        yield page
    finally:
        context.close()


def shoot(locator: Any, name: str) -> Path:
    """A screenshot kept as a test artifact (tests/artifacts/NAME, copied to /tmp/mullama-NAME)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    locator.screenshot(path=str(path), animations="disabled")
    shutil.copy(path, Path("/tmp") / f"mullama-{name}")
    return path


def notebook(path: Path, *sources: str) -> Path:
    """A notebook file with these code cells, for the python3 kernel."""
    cells = [{"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [],
              "source": src} for i, src in enumerate(sources)]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))
    return path
