import json
import os

import pytest

from mullama_jupyter.core.errors import InvalidGGUF, InvalidName, ModelNotFound
from mullama_jupyter.core.names import ModelName
from mullama_jupyter.core.store import MEDIA, Store
from tests.gguf_factory import tiny_llama_gguf


def stage_tiny(store, tmp_path, name="t1", **kv):
    src = tiny_llama_gguf(tmp_path / f"{name}.gguf", **kv)
    return store.stage_file(src)


def test_layout_follows_ollama(tmp_path):
    store = Store(tmp_path / "s")
    rec = store.commit(ModelName.parse("tiny"), model=stage_tiny(store, tmp_path), system="Be brief.",
                       params={"stop": ["<|im_end|>"], "temperature": 0.3}, license=["MIT"])
    manifest = tmp_path / "s/manifests/registry.ollama.ai/library/tiny/latest"
    m = json.loads(manifest.read_text())
    assert m["schemaVersion"] == 2
    assert m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    kinds = [layer["mediaType"] for layer in m["layers"]]
    assert kinds == [MEDIA["model"], MEDIA["system"], MEDIA["params"], MEDIA["license"]]
    for layer in m["layers"] + [m["config"]]:
        blob = tmp_path / "s/blobs" / layer["digest"].replace(":", "-")
        assert blob.stat().st_size == layer["size"]
    assert rec.system == "Be brief." and rec.params["temperature"] == 0.3 and rec.license == ["MIT"]
    assert rec.config["model_family"] == "llama"
    assert oct(os.stat(tmp_path / "s").st_mode & 0o777) == "0o700"
    assert list((tmp_path / "s/tmp").iterdir()) == []


def test_lookup_is_case_insensitive_and_keeps_stored_case(tmp_path):
    store = Store(tmp_path / "s")
    store.commit(ModelName.parse("MyModel:Tag"), model=stage_tiny(store, tmp_path))
    rec = store.load("mymodel:tag")
    assert rec.name.display == "MyModel:Tag"
    # Writing the other spelling replaces the same model instead of making a second one.
    store.commit(ModelName.parse("mymodel:TAG"), model=stage_tiny(store, tmp_path, "t2"))
    assert [r.name.display for r in store.list()] == ["MyModel:Tag"]


def test_copy_and_delete_keep_shared_blobs(tmp_path):
    store = Store(tmp_path / "s")
    a = store.commit(ModelName.parse("a"), model=stage_tiny(store, tmp_path))
    store.copy("a", "b:v2")
    assert {r.name.display for r in store.list()} == {"a:latest", "b:v2"}
    store.delete("a")
    b = store.load("b:v2")
    assert b.model_path.is_file() and b.model_digest == a.model_digest
    store.delete("b:v2")
    assert list((tmp_path / "s/blobs").iterdir()) == []
    assert not (tmp_path / "s/manifests/registry.ollama.ai").exists()


def test_missing_and_invalid_names(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(ModelNotFound) as e:
        store.load("nope")
    assert e.value.message == "model 'nope:latest' not found" or "nope" in e.value.message
    with pytest.raises(InvalidName):
        store.load("../../etc/passwd")
    with pytest.raises(ModelNotFound):
        store.copy("nope", "other")
    with pytest.raises(InvalidName):
        store.copy("a", "bad name")


def test_a_malformed_gguf_is_refused_and_nothing_is_left(tmp_path):
    store = Store(tmp_path / "s")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF")
    staged = store.stage_file(bad)
    with pytest.raises(InvalidGGUF):
        store.commit(ModelName.parse("bad"), model=staged)
    assert list((tmp_path / "s/blobs").iterdir()) == []
    assert list((tmp_path / "s/tmp").iterdir()) == []
    assert store.list() == []


def test_replacing_a_model_prunes_its_old_blob(tmp_path):
    store = Store(tmp_path / "s")
    old = store.commit(ModelName.parse("m"), model=stage_tiny(store, tmp_path, "x1"))
    new = store.commit(ModelName.parse("m"), model=stage_tiny(store, tmp_path, "x2", **{"general.name": "other"}))
    assert old.model_digest != new.model_digest
    assert not old.model_path.exists() and new.model_path.exists()


def test_a_damaged_manifest_is_skipped_in_list_and_blocks_pruning(tmp_path, caplog):
    store = Store(tmp_path / "s")
    store.commit(ModelName.parse("good"), model=stage_tiny(store, tmp_path))
    broken = tmp_path / "s/manifests/registry.ollama.ai/library/broken/latest"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    assert [r.name.display for r in store.list()] == ["good:latest"]
    store.delete("good")  # cannot tell what 'broken' references, so no blob is pruned
    assert len(list((tmp_path / "s/blobs").iterdir())) == 2
    assert "not pruning" in caplog.text


def test_stale_temp_files_are_swept(tmp_path):
    store = Store(tmp_path / "s")
    store.ensure()
    old = tmp_path / "s/tmp/stage-old"
    old.write_bytes(b"x")
    os.utime(old, (1, 1))
    fresh = tmp_path / "s/tmp/stage-new"
    fresh.write_bytes(b"y")
    assert store.sweep_tmp() == 1
    assert not old.exists() and fresh.exists()


def test_a_store_reached_through_a_symlink_works(tmp_path):
    from tests.gguf_factory import tiny_llama_gguf
    from mullama_jupyter.core.pull import pull

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    store = Store(tmp_path / "link")
    pull(store, str(tiny_llama_gguf(tmp_path / "t.gguf")), lambda p: None)
    [record] = store.list()
    assert store.load(record.name.display).digest == record.digest
