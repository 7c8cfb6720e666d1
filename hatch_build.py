"""Build hook: compile the JupyterLab extension (``labextension/``) into ``mullama_jupyter/labextension`` and
ship it in the wheel as ``share/jupyter/labextensions/mullama-jupyter``, so that installing the wheel is all a
JupyterLab user does (no Node.js at install time).

Building from source needs Node.js and the npm registry. Where they are missing or the build fails, the wheel
is still built, without the JupyterLab panels (everything else works), and a warning says so; set
``MULLAMA_REQUIRE_LABEXTENSION=1`` (CI does) to make that an error instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

EXTENSION = "mullama-jupyter"
SOURCES = ("src", "style", "schema", "package.json", "package-lock.json", "tsconfig.json")


def _newest(paths: list[Path]) -> float:
    times = [p.stat().st_mtime for path in paths if path.exists()
             for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()]
    return max(times, default=0.0)


class LabExtensionBuildHook(BuildHookInterface):
    PLUGIN_NAME = "labextension"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships the TypeScript sources; the wheel built from it compiles them
        root = Path(self.root)
        source = root / "labextension"
        output = root / "mullama_jupyter" / "labextension"
        required = os.environ.get("MULLAMA_REQUIRE_LABEXTENSION", "") not in ("", "0")
        if source.is_dir() and self._stale(source, output):
            try:
                self._build(source)
            except (OSError, subprocess.CalledProcessError, RuntimeError) as e:
                if required:
                    raise RuntimeError(f"building the JupyterLab extension failed: {e}") from e
                self.app.display_warning(
                    f"mullama-jupyter: the JupyterLab extension was not built ({e}); the chat and models panels "
                    "will be missing. Install Node.js >= 20 and reinstall, or see docs/jupyterlab.md.")
        if (output / "package.json").is_file():
            dest = f"share/jupyter/labextensions/{EXTENSION}"
            shared = build_data.setdefault("shared_data", {})
            for path in output.rglob("*"):
                if path.is_file():
                    shared[str(path)] = f"{dest}/{path.relative_to(output).as_posix()}"
            shared[str(root / "labextension" / "install.json")] = f"{dest}/install.json"
        elif required:
            raise RuntimeError("the JupyterLab extension is missing from mullama_jupyter/labextension")

    @staticmethod
    def _stale(source: Path, output: Path) -> bool:
        built = output / "package.json"
        if not built.is_file() or any((output / "static").glob("*.js.map")):
            return True  # missing, or a development build (`npm run build`): ship a production build
        return _newest([source / name for name in SOURCES]) > built.stat().st_mtime

    def _build(self, source: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm was not found on PATH")
        self.app.display_info("mullama-jupyter: building the JupyterLab extension (npm install, tsc, rspack)")
        lock = source / "node_modules" / ".package-lock.json"
        if not lock.is_file() or lock.stat().st_mtime < (source / "package-lock.json").stat().st_mtime:
            # `npm install` on the committed lock, not `npm ci`: the lock cannot list the native builds for other
            # platforms that a registry mirror lacks (optional dependencies), and `npm ci` refuses such a lock.
            subprocess.run([npm, "install", "--no-audit", "--no-fund"], cwd=source, check=True)
        subprocess.run([npm, "run", "clean"], cwd=source, check=True)
        subprocess.run([npm, "run", "build:lib:prod"], cwd=source, check=True)
        # jupyter_builder is a build dependency of this hook; run it as a module of this interpreter rather
        # than trusting its script to be on PATH inside pip's isolated build environment.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        subprocess.run([sys.executable, "-m", "jupyter_builder.main", "build", "."], cwd=source, check=True, env=env)
