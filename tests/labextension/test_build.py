"""The JupyterLab extension as users get it: its TypeScript unit tests pass, and a wheel built from this
checkout carries the compiled extension where JupyterLab looks for it (no Node.js needed to install)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

SOURCE = REPO / "labextension"
BUILT = REPO / "mullama_jupyter" / "labextension"
SHARE = "share/jupyter/labextensions/mullama-jupyter"


def need_node() -> str:
    npm = shutil.which("npm")
    if npm is None or not (SOURCE / "node_modules").is_dir():
        message = ("Node.js/npm or labextension/node_modules is missing: install Node.js >= 20 and run "
                   "pip install -e '.[test]' (it runs npm install), or: cd labextension && npm install")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return npm


def test_typescript_unit_tests_pass(tmp_path: Path) -> None:
    npm = need_node()
    out = tmp_path / "vitest.json"
    done = subprocess.run([npm, "test", "--silent", "--", "--reporter=json", f"--outputFile={out}"],
                          cwd=SOURCE, capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text())
    failed = [f"{t['fullName']}: {t['failureMessages'][:1]}" for suite in report["testResults"]
              for t in suite["assertionResults"] if t["status"] != "passed"]
    assert done.returncode == 0 and not failed, failed or done.stderr[-3000:]
    assert report["numPassedTests"] >= 70  # the suites ran, not an empty selection
    suites = {Path(s["name"]).name for s in report["testResults"]}
    assert {"ndjson.test.ts", "conversation.test.ts", "pullprogress.test.ts", "remoteimages.test.ts",
            "chatmodel.test.ts", "chatsocket.test.ts"} <= suites


def test_the_wheel_ships_the_built_extension(tmp_path: Path) -> None:
    need_node()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, timeout=900, env={**os.environ, "MULLAMA_REQUIRE_LABEXTENSION": "1"})
    (wheel,) = tmp_path.glob("mullama_jupyter-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        data = next(n for n in names if n.endswith(f".data/data/{SHARE}/package.json"))
        meta = json.loads(z.read(data))
        prefix = data.rsplit("/package.json", 1)[0]
        assert f"{prefix}/{meta['jupyterlab']['_build']['load']}" in names
        assert f"{prefix}/schemas/mullama-jupyter/plugin.json" in names
        assert f"{prefix}/install.json" in names
    # Shipped once, as JupyterLab data, not a second time inside the Python package.
    assert not [n for n in names if n.startswith("mullama_jupyter/labextension/")]
    # The same build JupyterLab loads from this checkout.
    assert meta["jupyterlab"]["_build"] == json.loads((BUILT / "package.json").read_text())["jupyterlab"]["_build"]


def test_settings_schema_matches_the_front_end_defaults() -> None:
    schema = json.loads((SOURCE / "schema" / "plugin.json").read_text())
    source = (SOURCE / "src" / "chatmodel.ts").read_text()
    block = source[source.index("export const DEFAULT_SETTINGS"):]
    block = block[:block.index("};")]
    for name, spec in schema["properties"].items():
        assert f"{name}: {json.dumps(spec['default']).replace(chr(34), chr(39))}" in block, name
