"""A loopback stand-in for the Hugging Face Hub, for driving the real ``huggingface_hub`` download path.

What it implements (checked against huggingface_hub 2.4.0, which talks to it through httpx2):

- ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{revision}`` (what
  ``HfApi.model_info`` calls): ``id``, ``modelId``, ``sha`` (the commit the revision resolves to),
  ``siblings`` (only ``rfilename`` unless ``?blobs=true``, then also ``size``, ``blobId`` and, for LFS
  files, ``lfs: {sha256, size, pointerSize}``), ``gated``, ``private``, ``disabled``, ``tags``,
  ``lastModified``, ``createdAt``...
- ``HEAD``/``GET /{repo_id}/resolve/{revision}/{filename}`` with the headers ``get_hf_file_metadata``
  and ``http_get`` read: ``X-Repo-Commit``, ``ETag`` (the sha256 for LFS files, the git blob id for
  others, quoted), ``X-Linked-Etag``/``X-Linked-Size`` (LFS only), ``Content-Length``,
  ``Accept-Ranges: bytes``; ``Range: bytes=N-`` / ``N-M`` / ``-K`` answers 206 with ``Content-Range``,
  an unsatisfiable range 416. Bodies are streamed and flushed chunk by chunk, so a fault can cut one.
- A revision is a branch, a tag, ``refs/heads/...``/``refs/tags/...`` or a full 40-hex commit sha;
  older commits stay addressable by sha.
- Errors as the real hub sends them (``X-Error-Code``/``X-Error-Message`` plus a JSON body), so
  ``hf_raise_for_status`` picks the same exception: unknown repo -> 401 (anonymous) or 404
  (authenticated) ``RepoNotFound``; unknown revision -> 404 ``RevisionNotFound``; unknown file ->
  404 ``EntryNotFound`` with ``X-Repo-Commit``; gated repo without its token -> 401 (no
  ``Authorization``) or 403 (another token) ``GatedRepo``.
- Gating is where the real hub puts it: file downloads are refused, while the repository listing
  (``model_info``) stays public and reports ``gated: "manual"`` (the hub has served gated listings to
  anyone since late 2024). ``add_repo(..., gated_api=True)`` also gates ``/api`` (the older behaviour).
- A second loopback server plays the CDN that LFS downloads are redirected to (``FakeHub.redirect``):
  the hub answers 302 with the ``X-Linked-*`` headers on the redirect itself, like the real hub.
- Faults per (repo_id, filename): a flipped byte, a dropped connection (FIN, or RST with
  ``reset=True``) or a stall after N body bytes.

What it leaves out: uploads and every other /api route (tree listings, refs, ``snapshot_download``),
datasets/spaces, private repos, Xet storage (no ``X-Xet-*`` headers are sent, so huggingface_hub
always falls back to plain HTTP), compression, rate limits, multi-range requests.

Files given as a ``Path`` are hashed once when added and then streamed from disk on every request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import struct
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Union
from urllib.parse import quote, unquote, urlsplit

import pytest
import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

Content = Union[bytes, "os.PathLike[str]"]

# The patterns of the Hub's default .gitattributes: these are stored with Git LFS, as is anything of
# 10 MB or more; everything else is a plain git blob (no `lfs` in the listing, git blob id as ETag).
_LFS_SUFFIXES = (".gguf", ".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".msgpack",
                 ".model", ".npy", ".npz", ".pkl", ".pickle", ".tflite", ".zip", ".gz", ".tar", ".zst",
                 ".7z", ".arrow", ".parquet", ".joblib", ".ot", ".mlmodel", ".pb", ".wasm", ".xz")
_LFS_MIN_SIZE = 10 * 1000 * 1000
_CHUNK = 256 * 1024
_EPOCH = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
_HEX40 = re.compile(r"[0-9a-f]{40}")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclasses.dataclass(frozen=True)
class _Blob:
    source: bytes | Path
    size: int
    sha256: str
    blob_id: str
    lfs: bool
    pointer_size: int | None

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        if isinstance(self.source, bytes):
            view = memoryview(self.source)
            for pos in range(start, stop, _CHUNK):
                yield bytes(view[pos:min(pos + _CHUNK, stop)])
            return
        with open(self.source, "rb") as f:
            f.seek(start)
            left = stop - start
            while left > 0:
                data = f.read(min(_CHUNK, left))
                if not data:
                    raise OSError(f"{self.source} shrank while being served")
                left -= len(data)
                yield data


def _make_blob(name: str, content: Content) -> _Blob:
    if isinstance(content, (bytes, bytearray, memoryview)):
        data: bytes | None = bytes(content)
        source: bytes | Path = data
        size = len(data)
        sha = hashlib.sha256(data).hexdigest()
    else:
        source = Path(os.fspath(content)).resolve()
        size = source.stat().st_size
        h = hashlib.sha256()
        with open(source, "rb") as f:
            while chunk := f.read(4 << 20):
                h.update(chunk)
        sha = h.hexdigest()
        data = None
    if name.lower().endswith(_LFS_SUFFIXES) or size >= _LFS_MIN_SIZE:
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n".encode()
        return _Blob(source, size, sha, _git_blob_id(pointer), True, len(pointer))
    if data is None:
        data = Path(source).read_bytes()  # under 10 MB: the git blob id needs the bytes
    return _Blob(source, size, sha, _git_blob_id(data), False, None)


@dataclasses.dataclass
class _Commit:
    sha: str
    files: dict[str, _Blob]
    date: datetime


@dataclasses.dataclass
class _Repo:
    repo_id: str
    gated: bool
    token: str | None
    gated_api: bool
    default_branch: str
    created: datetime
    commits: dict[str, _Commit] = dataclasses.field(default_factory=dict)
    branches: dict[str, str] = dataclasses.field(default_factory=dict)
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    extra_siblings: list[str] = dataclasses.field(default_factory=list)

    def resolve(self, revision: str) -> _Commit | None:
        for prefix, refs in (("refs/heads/", self.branches), ("refs/tags/", self.tags)):
            if revision.startswith(prefix) and revision[len(prefix):] in refs:
                return self.commits[refs[revision[len(prefix):]]]
        sha = self.branches.get(revision) or self.tags.get(revision)
        if sha is None and _HEX40.fullmatch(revision):
            sha = revision
        return self.commits.get(sha) if sha else None


@dataclasses.dataclass
class _Fault:
    kind: str  # "drop" or "stall"
    nbytes: int
    times: int
    seconds: float = 0.0
    reset: bool = False


class FakeHub:
    """The hub's state, its two servers (hub and CDN) and what they observed.

    Counters: ``gets`` counts GET requests answered with the file's bytes (200/206, by the hub or by
    the CDN after a redirect: a 302 or an error is not counted, so a redirected download counts once);
    ``ranges`` has one entry per such GET. ``heads`` counts every HEAD on the hub's resolve route.
    ``requests`` logs (method, uri, headers) of every request the hub (not the CDN) received.
    """

    def __init__(self) -> None:
        self.url = ""
        self.cdn_url = ""
        self.gets: collections.Counter[tuple[str, str]] = collections.Counter()
        self.heads: collections.Counter[tuple[str, str]] = collections.Counter()
        self.ranges: list[tuple[str, str, str | None]] = []
        self.cdn_headers: list[dict[str, str]] = []
        self.api_calls: list[str] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._repos: dict[str, _Repo] = {}
        self._by_sha256: dict[str, _Blob] = {}
        self._faults: dict[tuple[str, str], list[_Fault]] = {}
        self._flips: dict[tuple[str, str], int] = {}
        self._redirects: set[tuple[str, str]] = set()
        self._lock = threading.RLock()
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._closing = False
        self._tasks: set[asyncio.Task] = set()
        self._error: BaseException | None = None

    # --- content -------------------------------------------------------------------------------

    def add_repo(self, repo_id: str, files: dict[str, Content], *, branch: str = "main",
                 gated: bool = False, token: str | None = None, gated_api: bool = False) -> str:
        """A new repository with one commit on ``branch`` (also its default branch); returns the commit.

        ``gated``: file downloads need ``Authorization: Bearer <token>`` (no token at all means nobody
        gets in). ``gated_api``: the listing needs it too (the hub's behaviour before late 2024).
        """
        with self._lock:
            if repo_id in self._repos:
                raise ValueError(f"repository {repo_id} exists already")
            self._repos[repo_id] = _Repo(repo_id, gated, token, gated_api, branch, self._tick())
        return self.add_commit(repo_id, files, branch=branch)

    def add_commit(self, repo_id: str, files: dict[str, Content | None], *, branch: str = "main",
                   tag: str | None = None) -> str:
        """A commit on ``branch`` (created from the default branch if new) adding or replacing ``files``
        (a value of None deletes that file); ``tag`` then points at it. Returns the commit sha."""
        blobs = {name: None if content is None else _make_blob(name, content) for name, content in files.items()}
        with self._lock:
            repo = self._repos[repo_id]
            parent = repo.branches.get(branch) or repo.branches.get(repo.default_branch)
            tree = dict(repo.commits[parent].files) if parent else {}
            for name, blob in blobs.items():
                if blob is None:
                    tree.pop(name, None)
                else:
                    tree[name] = blob
                    self._by_sha256[blob.sha256] = blob
            payload = json.dumps([repo_id, parent, branch, sorted((n, b.sha256) for n, b in tree.items())])
            sha = hashlib.sha1(payload.encode()).hexdigest()
            repo.commits[sha] = _Commit(sha, tree, self._tick())
            repo.branches[branch] = sha
            if tag is not None:
                repo.tags[tag] = sha
            return sha

    def list_extra_siblings(self, repo_id: str, names: list[str]) -> None:
        """The listing (every revision) also shows these names, with made-up sizes and sha256s; the
        resolve route does not serve them (404 EntryNotFound)."""
        with self._lock:
            self._repos[repo_id].extra_siblings.extend(names)

    def resolve(self, repo_id: str, revision: str = "main") -> str:
        """The commit sha ``revision`` resolves to."""
        with self._lock:
            commit = self._repos[repo_id].resolve(revision)
        if commit is None:
            raise KeyError(f"{repo_id} has no revision {revision}")
        return commit.sha

    def sha256(self, repo_id: str, filename: str, revision: str = "main") -> str:
        """Hex sha256 of the true content (what the listing and the ETag announce)."""
        with self._lock:
            return self._repos[repo_id].commits[self.resolve(repo_id, revision)].files[filename].sha256

    # --- faults ----------------------------------------------------------------------------------

    def flip_byte(self, repo_id: str, filename: str, offset: int = 100) -> None:
        """Every GET of the file from now on has the byte at ``offset`` (of the file) inverted; sizes,
        ETags and the listing still announce the true content."""
        with self._lock:
            self._flips[(repo_id, filename)] = offset

    def drop_after(self, repo_id: str, filename: str, nbytes: int, times: int = 1, *,
                   reset: bool = False) -> None:
        """The next ``times`` GETs send ``nbytes`` of their body, then close the connection (a FIN, or a
        TCP RST with ``reset=True``)."""
        self._add_fault(repo_id, filename, _Fault("drop", nbytes, times, reset=reset))

    def stall_after(self, repo_id: str, filename: str, nbytes: int, seconds: float, times: int = 1) -> None:
        """The next ``times`` GETs send ``nbytes`` of their body, pause ``seconds``, then send the rest
        (if the client is still there)."""
        self._add_fault(repo_id, filename, _Fault("stall", nbytes, times, seconds=seconds))

    def redirect(self, repo_id: str, filename: str) -> None:
        """GET/HEAD of the file on the hub answer 302 to the CDN server (another port), which serves
        the bytes and records the headers it receives in ``cdn_headers``."""
        with self._lock:
            self._redirects.add((repo_id, filename))

    def clear_faults(self, repo_id: str | None = None, filename: str | None = None) -> None:
        """The hub recovers: drop pending faults (all, or those of one repo/file)."""
        with self._lock:
            for key in list(self._faults):
                if repo_id in (None, key[0]) and filename in (None, key[1]):
                    del self._faults[key]

    def _add_fault(self, repo_id: str, filename: str, fault: _Fault) -> None:
        if fault.times < 1 or fault.nbytes < 0:
            raise ValueError("times must be >= 1 and nbytes >= 0")
        with self._lock:
            self._faults.setdefault((repo_id, filename), []).append(fault)

    def _take_fault(self, key: tuple[str, str]) -> _Fault | None:
        faults = self._faults.get(key)
        if not faults:
            return None
        fault = faults[0]
        fault.times -= 1
        if fault.times <= 0:
            faults.pop(0)
        return fault

    def _tick(self) -> datetime:
        with self._lock:
            self._seq += 1
            return _EPOCH + timedelta(minutes=self._seq)

    # --- the listing ---------------------------------------------------------------------------

    def _model_info(self, repo: _Repo, commit: _Commit, blobs: bool) -> dict:
        siblings = []
        for name in sorted(commit.files):
            blob = commit.files[name]
            entry: dict = {"rfilename": name}
            if blobs:
                entry.update(size=blob.size, blobId=blob.blob_id)
                if blob.lfs:
                    entry["lfs"] = {"sha256": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
            siblings.append(entry)
        for name in repo.extra_siblings:
            entry = {"rfilename": name}
            if blobs:
                fake = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
                entry.update(size=4096, blobId=fake[:40], lfs={"sha256": fake, "size": 4096, "pointerSize": 132})
            siblings.append(entry)
        author, _, _ = repo.repo_id.rpartition("/")
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author or None,
            "sha": commit.sha,
            "lastModified": _iso(commit.date),
            "createdAt": _iso(repo.created),
            "private": False,
            "disabled": False,
            "gated": "manual" if repo.gated else False,
            "downloads": 0,
            "likes": 0,
            "tags": ["gguf"] if any(n.endswith(".gguf") for n in commit.files) else [],
            "library_name": "gguf" if any(n.endswith(".gguf") for n in commit.files) else None,
            "siblings": siblings,
            "spaces": [],
            "usedStorage": sum(b.size for b in commit.files.values()),
        }

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fakehf", daemon=True)
        self._thread.start()
        if not ready.wait(30) or self._error is not None:
            self.close()
            raise RuntimeError("the fake hub did not start") from self._error
        return self

    def close(self) -> None:
        """Stops both servers (open connections are cut, stalled responses abandoned) and joins the thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        if thread.is_alive():
            raise RuntimeError("the fake hub's thread did not stop")

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, ready: threading.Event) -> None:
        try:
            asyncio.run(self._main(ready))
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self._error = e
        finally:
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        servers = []
        try:
            for handler, attr in ((_HubHandler, "url"), (_CdnHandler, "cdn_url")):
                app = tornado.web.Application([(r".*", handler, {"hub": self})], log_function=lambda h: None)
                server = tornado.httpserver.HTTPServer(app)
                sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", family=socket.AF_INET)
                server.add_sockets(sockets)
                servers.append(server)
                setattr(self, attr, f"http://127.0.0.1:{sockets[0].getsockname()[1]}")
            ready.set()
            await self._stop.wait()
        finally:
            self._closing = True
            for server in servers:
                server.stop()
            for server in servers:
                await server.close_all_connections()
            pending = [t for t in self._tasks if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=10)


class _Handler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "HEAD")  # type: ignore[assignment]

    def initialize(self, hub: FakeHub) -> None:
        self.hub = hub

    def compute_etag(self) -> None:
        return None  # ETags here are content hashes set explicitly; tornado's hash of the body would differ

    async def get(self) -> None:
        await self._tracked()

    async def head(self) -> None:
        await self._tracked()

    async def _tracked(self) -> None:
        # close() waits for these, so no handler is left suspended on a loop that is going away
        task = asyncio.current_task()
        if task is not None:
            self.hub._tasks.add(task)
        try:
            await self.handle()
        finally:
            if task is not None:
                self.hub._tasks.discard(task)

    async def handle(self) -> None:
        raise NotImplementedError

    def _error(self, status: int, code: str | None, message: str, **headers: str) -> None:
        self.set_status(status)
        if code:
            self.set_header("X-Error-Code", code)
        self.set_header("X-Error-Message", message)
        for name, value in headers.items():
            self.set_header(name.replace("_", "-"), value)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message}))

    async def _send(self, repo_id: str, filename: str, blob: _Blob) -> None:
        """The body (or the requested range of it), with this file's faults applied."""
        key = (repo_id, filename)
        size = blob.size
        self.set_header("Content-Type", "application/octet-stream")
        if self.request.method == "HEAD":
            self.set_header("Content-Length", str(size))
            self.finish()
            return
        spec = self.request.headers.get("Range")
        start, stop = 0, size
        if spec is not None:
            parsed = _parse_range(spec, size)
            if parsed is None:
                self.set_header("Content-Range", f"bytes */{size}")
                self.set_status(416)
                self.finish()
                return
            start, stop = parsed
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        with self.hub._lock:
            self.hub.gets[key] += 1
            self.hub.ranges.append((repo_id, filename, spec))
            fault = self.hub._take_fault(key)
            flip = self.hub._flips.get(key)
        self.set_header("Content-Length", str(stop - start))
        sent = 0
        pos = start
        try:
            with contextlib.closing(blob.read(start, stop)) as chunks:
                for chunk in chunks:
                    if flip is not None and pos <= flip < pos + len(chunk):
                        mutable = bytearray(chunk)
                        mutable[flip - pos] ^= 0xFF
                        chunk = bytes(mutable)
                    pos += len(chunk)
                    if fault is not None and sent + len(chunk) >= fault.nbytes:
                        cut = fault.nbytes - sent
                        await self._write(chunk[:cut])
                        sent += cut
                        chunk = chunk[cut:]
                        if fault.kind == "drop":
                            self._hang_up(reset=fault.reset)
                            return
                        if not await self._pause(fault.seconds):
                            self._hang_up()
                            return
                        fault = None
                    if chunk:
                        await self._write(chunk)
                        sent += len(chunk)
            if fault is not None and fault.nbytes == 0 and fault.kind == "drop":  # an empty body
                self._hang_up(reset=fault.reset)
                return
            self.finish()
        except tornado.iostream.StreamClosedError:
            self._hang_up()  # the client went away (its timeout, or a test ending)

    async def _write(self, data: bytes) -> None:
        self.write(data)
        await self.flush()  # waits until the kernel has it, so a fault after N bytes is after N bytes
        # flush() completes synchronously while the socket takes data: without this, one fast
        # download would hold the loop and starve every other connection (and stalls' clocks)
        await asyncio.sleep(0)

    async def _pause(self, seconds: float) -> bool:
        """Sleeps, but stops early once the client hangs up or the hub closes; True if still connected."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        stream = self.request.connection.stream  # type: ignore[attr-defined]
        while (left := deadline - loop.time()) > 0:
            if stream.closed() or self.hub._closing:
                return False
            await asyncio.sleep(min(0.05, left))
        return not stream.closed()

    def _hang_up(self, reset: bool = False) -> None:
        stream = self.detach()
        if stream is None:
            return
        if reset and stream.socket is not None:
            # linger 0: close() sends RST instead of FIN, like a middlebox killing the connection
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        stream.close()


class _HubHandler(_Handler):
    async def handle(self) -> None:
        path = self.request.path  # still percent-encoded: a quoted revision may contain '/'
        with self.hub._lock:
            self.hub.requests.append((self.request.method or "", self.request.uri or "",
                                      dict(self.request.headers)))
        if path.startswith("/api/"):
            with self.hub._lock:
                self.hub.api_calls.append(path)
            if path.startswith("/api/models/"):
                self._model_info(path[len("/api/models/"):])
            else:
                self._error(404, None, "Sorry, we can't find the page you are looking for.")
        elif "/resolve/" in path:
            await self._resolve(path)
        else:
            self._error(404, None, "Sorry, we can't find the page you are looking for.")

    def _find_repo(self, repo_id: str) -> _Repo | None:
        with self.hub._lock:
            repo = self.hub._repos.get(repo_id)
        if repo is None:
            # anonymous callers get 401 so that a private repo's existence is not revealed
            status = 404 if self.request.headers.get("Authorization") else 401
            self._error(status, "RepoNotFound", "Repository not found")
        return repo

    def _allowed(self, repo: _Repo) -> bool:
        auth = self.request.headers.get("Authorization")
        if repo.token is not None and auth == f"Bearer {repo.token}":
            return True
        if not auth:
            self._error(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must have access to"
                        " it and be authenticated to access it. Please log in.")
        else:
            self._error(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are not in the"
                        f" authorized list. Visit {self.hub.url}/{repo.repo_id} to ask for access.")
        return False

    def _model_info(self, rest: str) -> None:
        repo_part, sep, rev_part = rest.partition("/revision/")
        repo = self._find_repo(unquote(repo_part.rstrip("/")))
        if repo is None or (repo.gated and repo.gated_api and not self._allowed(repo)):
            return
        revision = unquote(rev_part) if sep else repo.default_branch
        with self.hub._lock:
            commit = repo.resolve(revision)
            info = None if commit is None else self.hub._model_info(
                repo, commit, self.get_query_argument("blobs", "false").lower() in ("1", "true"))
        if info is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(info))

    async def _resolve(self, path: str) -> None:
        repo_part, _, rest = path.partition("/resolve/")
        rev_part, _, file_part = rest.partition("/")
        repo_id, revision, filename = unquote(repo_part.lstrip("/")), unquote(rev_part), unquote(file_part)
        key = (repo_id, filename)
        if self.request.method == "HEAD":
            with self.hub._lock:
                self.hub.heads[key] += 1
        repo = self._find_repo(repo_id)
        if repo is None or (repo.gated and not self._allowed(repo)):
            return
        with self.hub._lock:
            commit = repo.resolve(revision)
            redirected = key in self.hub._redirects
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        blob = commit.files.get(filename)
        if blob is None:
            self._error(404, "EntryNotFound", "Entry not found", X_Repo_Commit=commit.sha)
            return
        self.set_header("X-Repo-Commit", commit.sha)
        self.set_header("ETag", f'"{blob.etag}"')
        self.set_header("Accept-Ranges", "bytes")
        if blob.lfs or redirected:
            self.set_header("X-Linked-Etag", f'"{blob.etag}"')
            self.set_header("X-Linked-Size", str(blob.size))
        if redirected:
            query = f"repo={quote(repo_id, safe='')}&file={quote(filename, safe='')}&X-Amz-Signature=fakehf"
            self.set_header("Location", f"{self.hub.cdn_url}/blobs/{blob.sha256}?{query}")
            self.set_status(302)
            self.finish()
            return
        await self._send(repo_id, filename, blob)


class _CdnHandler(_Handler):
    async def handle(self) -> None:
        with self.hub._lock:
            self.hub.cdn_headers.append(dict(self.request.headers))
            blob = self.hub._by_sha256.get(self.request.path.rpartition("/")[2])
        if blob is None:
            self._error(403, None, "AccessDenied")
            return
        repo_id = self.get_query_argument("repo", "")
        filename = self.get_query_argument("file", "")
        self.set_header("ETag", f'"{blob.sha256}"')
        self.set_header("Accept-Ranges", "bytes")
        base = filename.rpartition("/")[2]
        self.set_header("Content-Disposition", f"inline; filename*=UTF-8''{quote(base)}; filename=\"{quote(base)}\"")
        await self._send(repo_id, filename, blob)


def _parse_range(spec: str, size: int) -> tuple[int, int] | None:
    """(start, stop) of a single ``bytes=`` range, or None if it is unsatisfiable or not understood."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", spec)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    if not m.group(1):
        start, stop = max(size - int(m.group(2)), 0), size
    else:
        start = int(m.group(1))
        stop = min(int(m.group(2)) + 1, size) if m.group(2) else size
    return (start, stop) if start < stop else None


def start_fake_hub() -> FakeHub:
    """A started hub; ``close()`` it (or use it as a context manager). Nothing points
    huggingface_hub at it: the ``fakehf`` fixture does that."""
    return FakeHub().start()


# Variables huggingface_hub reads (most of them once, at import) that could point a test at the real
# hub, a developer's cache or token, or offline mode. A child process gets a clean view from these.
_UNSET = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN", "HF_HUB_OFFLINE",
          "TRANSFORMERS_OFFLINE", "HUGGINGFACE_CO_STAGING", "HUGGINGFACE_HUB_CACHE", "HUGGINGFACE_ASSETS_CACHE",
          "HF_ASSETS_CACHE", "HF_XET_CACHE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_ENABLE_HF_TRANSFER",
          "HF_HUB_DISABLE_IMPLICIT_TOKEN")


def hf_env(hub: FakeHub, home: Path, download_timeout: int = 2) -> dict[str, str]:
    """The environment variables that point a freshly started huggingface_hub at ``hub``
    (besides unsetting those in ``_UNSET``)."""
    inherited = os.environ.get("NO_PROXY") or os.environ.get("no_proxy")
    no_proxy = ",".join(filter(None, [inherited, "127.0.0.1", "localhost"]))
    return {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DOWNLOAD_TIMEOUT": str(download_timeout),
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def point_huggingface_hub_at(hub: FakeHub, monkeypatch: pytest.MonkeyPatch, home: Path,
                             download_timeout: int = 2) -> None:
    """Sets the environment (for child processes and code reading ``os.environ``) and patches what
    huggingface_hub already computed from it at import time."""
    import huggingface_hub.hf_api
    import huggingface_hub.utils._cache_assets
    import huggingface_hub.utils._cache_manager
    import huggingface_hub.utils._http
    from huggingface_hub import constants

    for name in _UNSET:
        monkeypatch.delenv(name, raising=False)
    env = hf_env(hub, home, download_timeout)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    hub_host = urlsplit(hub.url).hostname or "127.0.0.1"
    patches = {
        # what hf_hub_url and HfApi() without an endpoint use
        "ENDPOINT": hub.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {hub_host},
        "HF_HOME": env["HF_HOME"],
        "HF_HUB_CACHE": env["HF_HUB_CACHE"],
        "HUGGINGFACE_HUB_CACHE": env["HF_HUB_CACHE"],
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        # a developer's saved login must not leak into requests as an implicit token
        "HF_TOKEN_PATH": env["HF_TOKEN_PATH"],
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DOWNLOAD_TIMEOUT": download_timeout,
        "HF_HUB_ETAG_TIMEOUT": constants.DEFAULT_ETAG_TIMEOUT,
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value)
    # Hosts whose redirects HEAD follows (and keeps Authorization for), frozen at import from ENDPOINT.
    http = huggingface_hub.utils._http
    monkeypatch.setattr(http, "_HUB_ORIGINS", http._HUB_ORIGINS | {http._url_origin(hub.url)})
    # The module-level HfApi behind huggingface_hub.model_info() & co. took its endpoint at import.
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", hub.url)
    monkeypatch.setattr(huggingface_hub.utils._cache_manager, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
    monkeypatch.setattr(huggingface_hub.utils._cache_assets, "HF_ASSETS_CACHE", str(home / "assets"))


@pytest.fixture
def fakehf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A started fake hub with huggingface_hub (this process's, and any child's through the
    environment) pointed at it, its cache and home under ``tmp_path``, no token, 2 s download timeout."""
    from huggingface_hub import close_session

    hub = start_fake_hub()
    try:
        point_huggingface_hub_at(hub, monkeypatch, tmp_path / "hf-home")
        # huggingface_hub shares one httpx2 client: start from a fresh one (it reads the proxy
        # variables when created) and drop its pooled sockets before the hub goes away.
        close_session()
        yield hub
    finally:
        close_session()
        hub.close()
