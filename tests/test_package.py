"""The package's public surface and its Jupyter entry points."""

import json
from pathlib import Path

import mullama_jupyter
from mullama_jupyter.server.extension import MullamaExtension

REPO = Path(__file__).resolve().parents[1]


def test_public_names():
    assert sorted(mullama_jupyter.__all__) == sorted(
        ["__version__", "embed", "load_ipython_extension", "unload_ipython_extension", "_jupyter_server_extension_points",
         "_jupyter_labextension_paths"])
    for name in mullama_jupyter.__all__:
        assert hasattr(mullama_jupyter, name)


def test_labextension_path_points_at_the_built_extension():
    (path,) = mullama_jupyter._jupyter_labextension_paths()
    assert path["dest"] == "mullama-jupyter"
    built = Path(mullama_jupyter.__file__).parent / path["src"] / "package.json"
    assert json.loads(built.read_text())["name"] == "mullama-jupyter"


def test_server_extension_point_and_auto_enable_config():
    (point,) = mullama_jupyter._jupyter_server_extension_points()
    assert point == {"module": "mullama_jupyter.server.extension", "app": MullamaExtension}
    config = json.loads((REPO / "jupyter-config/jupyter_server_config.d/mullama_jupyter.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}}}
    assert 'shared-data]\n"jupyter-config/jupyter_server_config.d" = "etc/jupyter/jupyter_server_config.d"' in \
        (REPO / "pyproject.toml").read_text()


def test_importing_the_package_stays_light():
    import subprocess
    import sys

    code = "import sys, mullama_jupyter; print(sorted(m for m in ('tornado', 'jupyter_server', 'IPython', 'llama_cpp') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
