"""Models of an existing Ollama store: listed and run in place, never written."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from mullama_jupyter.core.errors import InvalidRequest
from mullama_jupyter.core.manager import Manager
from mullama_jupyter.core.native import CompletionRequest, Message
from mullama_jupyter.core.store import Store
from tests.conftest import smollm2_file

GO_TEMPLATE = "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"


def make_ollama_store(root, name=("registry.ollama.ai", "library", "smollm2", "135m")):
    """An Ollama store as `ollama pull` leaves it: blobs by sha256, a manifest with model, template
    (Go dialect) and params layers. The model blob is a hard link to the bundled GGUF (no copy)."""
    blobs = root / "blobs"
    blobs.mkdir(parents=True)

    def blob(data: bytes | None = None, path=None) -> dict:
        if path is not None:
            h = hashlib.sha256(path.read_bytes()).hexdigest()
            target = blobs / f"sha256-{h}"
            try:
                target.hardlink_to(path)
            except OSError:
                shutil.copy(path, target)
            size = path.stat().st_size
        else:
            h = hashlib.sha256(data).hexdigest()
            (blobs / f"sha256-{h}").write_bytes(data)
            size = len(data)
        return {"digest": f"sha256:{h}", "size": size}

    layers = [
        {"mediaType": "application/vnd.ollama.image.model", **blob(path=smollm2_file())},
        {"mediaType": "application/vnd.ollama.image.template", **blob(GO_TEMPLATE.encode())},
        {"mediaType": "application/vnd.ollama.image.params", **blob(json.dumps({"stop": ["<|im_end|>"]}).encode())},
    ]
    config = blob(json.dumps({"model_format": "gguf", "model_family": "llama"}).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config}, "layers": layers}
    path = root.joinpath("manifests", *name)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(manifest))
    return root


@pytest.fixture
def ollama_root(tmp_path):
    return make_ollama_store(tmp_path / "ollama")


def test_listed_and_loaded_in_place_without_copying(tmp_path, ollama_root):
    store = Store(tmp_path / "mine", ollama=ollama_root)
    (rec,) = store.list()
    assert rec.name.display == "smollm2:135m" and rec.origin == "ollama"
    assert rec.model_path.parent == ollama_root / "blobs"
    assert rec.template == GO_TEMPLATE and rec.params == {"stop": ["<|im_end|>"]}
    assert store.gguf_info(rec.model_digest).architecture == "llama"
    assert not (tmp_path / "mine" / "blobs").exists() or not any((tmp_path / "mine" / "blobs").iterdir())


def test_found_through_OLLAMA_MODELS(tmp_path, ollama_root, monkeypatch):
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama_root))
    assert [r.origin for r in Store(tmp_path / "mine").list()] == ["ollama"]
    assert Store(tmp_path / "mine", ollama=False).list() == []


def test_read_only_delete_refused_copy_brings_blobs(tmp_path, ollama_root):
    store = Store(tmp_path / "mine", ollama=ollama_root)
    with pytest.raises(InvalidRequest, match="in the Ollama store, which mullama only reads"):
        store.delete("smollm2:135m")
    copy = store.copy("smollm2:135m", "mine/smol:v1")
    assert copy.origin == "mullama" and copy.model_path.parent == tmp_path / "mine" / "blobs"
    store.delete("mine/smol:v1")
    assert (ollama_root / "manifests/registry.ollama.ai/library/smollm2/135m").exists()
    assert len(list((ollama_root / "blobs").iterdir())) == 4


@pytest.mark.model
async def test_runs_with_the_ggufs_own_template(tmp_path, ollama_root):
    m = Manager(Store(tmp_path / "mine", ollama=ollama_root))
    try:
        req = CompletionRequest(model="smollm2:135m", messages=[Message("user", "What is the capital of France? Answer in one word.")],
                                options={"temperature": 0, "num_predict": 16})
        text = "".join([c.content async for c in m.complete(req)])
        assert "Paris" in text
    finally:
        await m.stop()
