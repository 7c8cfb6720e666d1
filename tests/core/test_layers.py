"""core/ stays free of web and notebook libraries; llama_cpp is imported only by runner/engines.py."""

import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "mullama_jupyter"

BLOCKER = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"tornado", "jupyter_server", "IPython", "ipywidgets", "pandas", "llama_cpp", "ipykernel"}:
            raise ImportError(f"core imported {name}")
        return None
sys.meta_path.insert(0, Block())
import pkgutil, importlib, mullama_jupyter.core as core
for m in pkgutil.iter_modules(core.__path__):
    importlib.import_module(f"mullama_jupyter.core.{m.name}")
import mullama_jupyter.runner.process, mullama_jupyter.runner.protocol, mullama_jupyter.runner.engines
print("ok")
"""


def test_core_imports_no_adapter_library():
    out = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_llama_cpp_is_imported_only_in_the_runner_engine():
    users = [p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")
             if "import llama_cpp" in p.read_text() or "from llama_cpp" in p.read_text()]
    assert users == ["runner/engines.py"]
