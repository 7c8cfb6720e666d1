"""Pulling from Hugging Face through the real huggingface_hub, against the loopback fake hub."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mullama_jupyter.core.errors import InsufficientStorage, InvalidName, InvalidRequest, ModelNotFound, PullError
from mullama_jupyter.core.manager import Manager, ManagerConfig
from mullama_jupyter.core.native import CompletionRequest, Message
from mullama_jupyter.core.pull import pull
from mullama_jupyter.core.store import Store
from tests.conftest import smollm2_file
from tests.gguf_factory import tiny_llama_bytes

REPO = "test-org/tiny-GGUF"


def gguf(label: str) -> bytes:
    return tiny_llama_bytes(**{"general.name": label})


@pytest.fixture
def hub(fakehf):
    fakehf.add_repo(REPO, {
        "tiny-Q4_K_M.gguf": gguf("q4km"), "tiny-Q8_0.gguf": gguf("q8"), "tiny-F16.gguf": gguf("f16"),
        "mmproj-tiny-f16.gguf": gguf("projector"), "README.md": b"# tiny",
    })
    return fakehf


@pytest.fixture
def aliases_file(tmp_path, monkeypatch):
    f = tmp_path / "aliases.toml"
    f.write_text(f'[models."tiny:1b"]\nrepo = "{REPO}"\nfile = "tiny-Q4_K_M.gguf"\nfamily = "llama"\n'
                 f'tags = ["chat"]\n\n[models."tiny:1b".params]\nstop = ["<|end|>"]\n')
    monkeypatch.setenv("MULLAMA_ALIASES", str(f))
    return f


def run_pull(store, spec, **kw):
    events = []
    from mullama_jupyter.core.aliases import load_aliases

    extra = [p for p in os.environ.get("MULLAMA_ALIASES", "").split(os.pathsep) if p]
    record = pull(store, spec, events.append, aliases=load_aliases(extra), **kw)
    return record, events


def test_quant_is_chosen_by_the_documented_order_and_named_after_it(hub, tmp_path):
    store = Store(tmp_path / "s")
    rec, events = run_pull(store, f"hf:{REPO}")
    assert rec.name.display == f"hf.co/test-org/tiny-GGUF:Q4_K_M"
    assert store.gguf_info(rec.model_digest).name == "q4km"
    statuses = [e.status for e in events]
    digest = hub.sha256(REPO, "tiny-Q4_K_M.gguf")
    assert statuses[0] == "pulling manifest" and statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    assert f"pulling {digest[:12]}" in statuses
    last = [e for e in events if e.total][-1]
    assert last.completed == last.total == len(gguf("q4km")) and last.digest == "sha256:" + digest
    assert rec.source["commit"] == hub.resolve(REPO) and rec.source["revision"] == "main"
    assert hub.gets[(REPO, "tiny-Q4_K_M.gguf")] == 1 and hub.gets[(REPO, "tiny-Q8_0.gguf")] == 0


def test_quant_and_file_specs(hub, tmp_path):
    store = Store(tmp_path / "s")
    q8, _ = run_pull(store, f"hf:{REPO}:q8_0")
    assert q8.name.tag == "Q8_0" and store.gguf_info(q8.model_digest).name == "q8"
    f16, _ = run_pull(store, f"hf:{REPO}:tiny-F16.gguf")
    assert f16.name.tag == "tiny-F16" and store.gguf_info(f16.model_digest).name == "f16"
    with pytest.raises(InvalidRequest) as e:
        run_pull(store, f"hf:{REPO}:Q2_K")
    assert e.value.message == f"{REPO} has no Q2_K file; available: F16, Q4_K_M, Q8_0"
    with pytest.raises(ModelNotFound, match="file nope.gguf not found"):
        run_pull(store, f"hf:{REPO}:nope.gguf")


def test_aliases_and_quant_suffixes(hub, tmp_path, aliases_file):
    store = Store(tmp_path / "s")
    rec, _ = run_pull(store, "tiny:1b")
    assert rec.name.display == "tiny:1b" and rec.params == {"stop": ["<|end|>"]}
    assert rec.source["alias"] == "tiny:1b"
    q8, _ = run_pull(store, "tiny:1b-q8")
    assert q8.name.display == "tiny:1b-q8" and store.gguf_info(q8.model_digest).name == "q8"
    with pytest.raises(InvalidRequest, match="has no Q5_K_M file"):
        run_pull(store, "tiny:1b-q5_k_m")


def test_revisions_pin_content_and_the_commit_is_recorded(hub, tmp_path):
    first = hub.resolve(REPO)
    tagged = hub.add_commit(REPO, {"tiny-Q4_K_M.gguf": gguf("v2")}, tag="v2")
    hub.add_commit(REPO, {"tiny-Q4_K_M.gguf": gguf("v3")})
    store = Store(tmp_path / "s")
    for revision, label, commit in ((first, "q4km", first), ("v2", "v2", tagged), ("main", "v3", hub.resolve(REPO))):
        rec, _ = run_pull(store, f"hf:{REPO}:Q4_K_M@{revision}")
        assert store.gguf_info(rec.model_digest).name == label
        assert (rec.source["revision"], rec.source["commit"]) == (revision, commit)
    with pytest.raises(ModelNotFound, match='revision "nope" not found'):
        run_pull(store, f"hf:{REPO}:Q4_K_M@nope")


def test_a_corrupted_download_is_deleted_and_the_old_model_survives(hub, tmp_path):
    store = Store(tmp_path / "s")
    good, _ = run_pull(store, f"hf:{REPO}:Q8_0")
    hub.add_commit(REPO, {"tiny-Q8_0.gguf": gguf("q8-v2")})
    hub.flip_byte(REPO, "tiny-Q8_0.gguf", offset=50)
    with pytest.raises(PullError) as e:
        run_pull(store, f"hf:{REPO}:Q8_0")
    assert e.value.message.startswith("sha256 mismatch for tiny-Q8_0.gguf: expected sha256:")
    assert not list((tmp_path / "s" / "partial").glob("*.part"))
    assert store.load(f"hf.co/test-org/tiny-GGUF:Q8_0").model_digest == good.model_digest
    assert good.model_path.exists()


def test_an_interrupted_download_resumes_from_the_bytes_on_disk(fakehf, tmp_path):
    """Kill a pulling process half way, pull again: only the rest is fetched (Range), hash is right."""
    real = smollm2_file()
    size = real.stat().st_size
    fakehf.add_repo("test-org/smol-GGUF", {"SmolLM2-135M-Instruct.Q4_1.gguf": real})
    fakehf.stall_after("test-org/smol-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf", nbytes=60 << 20, seconds=60)
    root = tmp_path / "s"
    code = ("import sys; from mullama_jupyter.core.pull import pull; from mullama_jupyter.core.store import Store; "
            "pull(Store(sys.argv[1]), 'hf:test-org/smol-GGUF', lambda p: None)")
    child = subprocess.Popen([sys.executable, "-c", code, str(root)], env={**os.environ, "HF_HUB_DOWNLOAD_TIMEOUT": "60"})
    part_dir = root / "partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = list(part_dir.glob("*.part")) if part_dir.exists() else []
        if parts and parts[0].stat().st_size >= 50 << 20:
            break
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    (part,) = list(part_dir.glob("*.part"))
    kept = part.stat().st_size
    assert 50 << 20 <= kept < size

    store = Store(root)
    rec, events = run_pull(store, "hf:test-org/smol-GGUF")
    ranges = [r for repo, f, r in fakehf.ranges if f.endswith(".gguf")]
    assert ranges[-1] == f"bytes={kept}-"  # the retry asked only for what was missing
    assert rec.model_digest == "sha256:" + fakehf.sha256("test-org/smol-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert [e for e in events if e.total][0].completed == kept  # progress starts at the resumed offset
    assert not list(part_dir.glob("*.part"))


def test_concurrent_pulls_of_one_model_download_it_once(hub, tmp_path):
    store = Store(tmp_path / "s")
    results, errors = [], []

    def go():
        try:
            results.append(run_pull(Store(tmp_path / "s"), f"hf:{REPO}:Q8_0")[0])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 3
    assert hub.gets[(REPO, "tiny-Q8_0.gguf")] == 1
    assert len({r.model_digest for r in results}) == 1 and store.load(f"hf.co/test-org/tiny-GGUF:Q8_0")


def test_gated_repos_need_a_token(fakehf, tmp_path, monkeypatch):
    fakehf.add_repo("gated-org/secret-GGUF", {"secret-Q4_K_M.gguf": gguf("secret")}, gated=True, token="hf_right")
    store = Store(tmp_path / "s")
    with pytest.raises(PullError) as e:
        run_pull(store, "hf:gated-org/secret-GGUF")
    assert "gated" in e.value.message and e.value.hint.endswith("set HF_TOKEN")
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    rec, _ = run_pull(store, "hf:gated-org/secret-GGUF")
    assert rec.name.tag == "Q4_K_M"


def test_unknown_repo_and_hostile_listings(fakehf, tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(ModelNotFound) as e:
        run_pull(store, "hf:nobody/nothing-GGUF")
    assert e.value.message == "pull model manifest: file does not exist"
    fakehf.add_repo("evil-org/evil-GGUF", {"good-Q4_K_M.gguf": gguf("good")})
    fakehf.list_extra_siblings("evil-org/evil-GGUF", ["../../evil-Q8_0.gguf", "/abs-Q8_0.gguf", "..\\x-Q8_0.gguf"])
    rec, _ = run_pull(store, "hf:evil-org/evil-GGUF")
    assert rec.name.tag == "Q4_K_M"  # the hostile names were never candidates
    for bad in ("hf:evil-org/evil-GGUF:../../evil-Q8_0.gguf", "hf:evil-org/evil-GGUF:..\\x-Q8_0.gguf"):
        with pytest.raises(InvalidRequest, match="invalid filename"):
            run_pull(store, bad)
    with pytest.raises((InvalidRequest, InvalidName)):
        run_pull(store, "hf:../etc/passwd")
    assert not (tmp_path / "evil-Q8_0.gguf").exists() and not Path("/abs-Q8_0.gguf").exists()


def test_split_ggufs_download_every_part(fakehf, tmp_path):
    fakehf.add_repo("split-org/big-GGUF", {
        "big-Q4_K_M-00001-of-00002.gguf": gguf("part1"), "big-Q4_K_M-00002-of-00002.gguf": gguf("part2"),
        "big-Q8_0.gguf": gguf("q8"),
    })
    store = Store(tmp_path / "s")
    rec, _ = run_pull(store, "hf:split-org/big-GGUF")
    assert rec.name.tag == "Q4_K_M" and len(rec.model_parts) == 2
    assert fakehf.gets[("split-org/big-GGUF", "big-Q4_K_M-00002-of-00002.gguf")] == 1
    first = store.model_file(rec)
    assert first.name == "model-00001-of-00002.gguf"
    assert (first.parent / "model-00002-of-00002.gguf").resolve() == rec.model_parts[1].resolve()


def test_the_token_does_not_follow_a_redirect_to_another_host(fakehf, tmp_path, monkeypatch):
    fakehf.add_repo("cdn-org/m-GGUF", {"m-Q4_K_M.gguf": gguf("cdn")}, gated=True, token="hf_tok")
    fakehf.redirect("cdn-org/m-GGUF", "m-Q4_K_M.gguf")
    monkeypatch.setenv("HF_TOKEN", "hf_tok")
    rec, _ = run_pull(Store(tmp_path / "s"), "hf:cdn-org/m-GGUF")
    assert rec.name.tag == "Q4_K_M"
    assert fakehf.cdn_headers and all("authorization" not in {k.lower() for k in h} for h in fakehf.cdn_headers)


def test_not_enough_disk_fails_before_downloading(hub, tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 10))
    with pytest.raises(InsufficientStorage, match=r"insufficient disk space: need \d+ KB, have 10 B"):
        run_pull(Store(tmp_path / "s"), f"hf:{REPO}")
    assert sum(hub.gets.values()) == 0


def test_a_digest_pin_is_checked(hub, tmp_path):
    right = "sha256:" + hub.sha256(REPO, "tiny-Q8_0.gguf")
    rec, _ = run_pull(Store(tmp_path / "s"), f"hf:{REPO}:Q8_0", digest=right)
    assert rec.model_digest == right
    with pytest.raises(PullError, match="digest mismatch: expected sha256:0000"):
        run_pull(Store(tmp_path / "s2"), f"hf:{REPO}:Q8_0", digest="sha256:" + "0" * 64)


async def test_specs_address_pulled_models_and_auto_pull(hub, tmp_path, aliases_file):
    m = Manager(Store(tmp_path / "s"), ManagerConfig(engine="echo", auto_pull=True, stream_interval=0))
    try:
        req = CompletionRequest(model="tiny:1b", messages=[Message("user", "hello from auto pull")])
        text = "".join([c.content async for c in m.complete(req)])
        assert text == "hello from auto pull "  # pulled, then answered (echo engine)
        async for _ in m.pull(f"hf:{REPO}:Q8_0"):
            pass
        for spec in (f"hf:{REPO}:Q8_0", f"hf:{REPO}:Q8_0@main", f"hf:{REPO}"):
            record = await m.resolve(spec)
            assert record.name.tag in ("Q8_0", "Q4_K_M")
        assert (await m.resolve(f"hf:{REPO}")).name.tag == "Q8_0"  # the only one of that repo in the store
        no_auto = Manager(Store(tmp_path / "s2"), ManagerConfig(engine="echo"))
        with pytest.raises(ModelNotFound):
            await no_auto.resolve("tiny:1b")
    finally:
        await m.stop()


def test_a_stalled_download_fails_clearly_and_the_next_pull_resumes(hub, tmp_path):
    name = "tiny-Q8_0.gguf"
    size = len(gguf("q8"))
    hub.stall_after(REPO, name, nbytes=size // 2, seconds=30, times=50)
    store = Store(tmp_path / "s")
    t0 = time.monotonic()
    with pytest.raises(PullError) as e:
        run_pull(store, f"hf:{REPO}:Q8_0")
    assert e.value.message.startswith("download stalled") and "resumes" in e.value.hint
    assert time.monotonic() - t0 < 30
    assert store.list() == []  # nothing half-made is visible
    hub.clear_faults()  # the hub recovers
    rec, _ = run_pull(store, f"hf:{REPO}:Q8_0")
    assert rec.model_digest == "sha256:" + hub.sha256(REPO, name)


def test_a_cancelled_download_stops_at_its_next_chunk_and_resumes_later(fakehf, tmp_path):
    repo, name = "test-org/big-GGUF", "big-Q8_0.gguf"
    # huggingface_hub reads 10 MB chunks: a file of several chunks, the hub pausing inside the second one.
    half = 12_000_000
    data = tiny_llama_bytes(**{"general.name": "big", "general.description": "x" * half, "general.notes": "y" * half})
    size = len(data)
    fakehf.add_repo(repo, {name: data})
    fakehf.stall_after(repo, name, nbytes=11_000_000, seconds=1.5)
    store = Store(tmp_path / "s")
    cancel = threading.Event()
    events = []

    def emit(p):
        events.append(p)
        if p.completed:  # cancel as soon as bytes arrive, while the hub pauses a quarter in
            cancel.set()

    with pytest.raises(PullError) as e:
        pull(store, f"hf:{repo}", emit, cancel.is_set)
    assert e.value.message == "pull canceled" and "resume" in e.value.hint
    kept = store.partial_path("sha256:" + fakehf.sha256(repo, name)).stat().st_size
    assert 0 < kept < size  # stopped early, and kept for the next pull
    assert store.list() == []
    rec, later = run_pull(store, f"hf:{repo}")
    assert rec.model_digest == "sha256:" + fakehf.sha256(repo, name)
    assert next(p.completed for p in later if p.total) == kept  # resumed, not started over


async def test_create_from_an_alias_pulls_the_base_first(hub, tmp_path, aliases_file):
    from mullama_jupyter.core.create import CreateRequest

    m = Manager(Store(tmp_path / "s"), ManagerConfig(engine="echo"))
    steps = [p.status async for p in m.create(CreateRequest(model="mine", from_="tiny:1b", system="Be brief."))]
    assert steps[0] == "pulling manifest" and "success" in steps[:-1] and steps[-1] == "success"
    assert {r.name.display for r in m.store.list()} == {"tiny:1b", "mine:latest"}
    assert m.store.load("mine").system == "Be brief."
