"""The model store: content-addressed blobs plus one manifest per name, in Ollama's layout.

    <root>/blobs/sha256-<hex>                         model weights, templates, params, ...
    <root>/manifests/<host>/<namespace>/<model>/<tag> Docker v2 manifest JSON listing the layers
    <root>/tmp/                                       files being written; never listed
    <root>/partial/<sha256>.part                      downloads in progress, kept to resume
    <root>/splits/<sha256>/model-0000i-of-0000N.gguf  links that let llama.cpp find a split model

Every path is built by ``names.safe_join`` from a validated name or digest. Blobs are staged in
``tmp/`` (hashed while copied), then published with ``os.replace`` together with the manifest under
a lock (a thread lock plus ``flock``, so the CLI and a server on the same store do not race a
prune against a publish). Deleting a model removes its manifest, then every blob no manifest
references.

An existing Ollama store (``$OLLAMA_MODELS`` or ``~/.ollama/models``) is a second, read-only source:
its models are listed and run in place (``origin == "ollama"``), never written or pruned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import InvalidName, InvalidRequest, ModelNotFound, MullamaError
from .gguf import GGUFInfo, read_gguf
from .names import ModelName, blob_filename, parse_digest, safe_join

log = logging.getLogger(__name__)

MANIFEST_MEDIA = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_MEDIA = "application/vnd.docker.container.image.v1+json"
MEDIA = {
    kind: f"application/vnd.ollama.image.{kind}"
    for kind in ("model", "template", "system", "params", "messages", "license", "adapter", "projector")
}
_KIND_OF = {v: k for k, v in MEDIA.items()}

CHUNK = 4 << 20
TMP_MAX_AGE = 3600.0  # seconds; older files in tmp/ are left-overs of a killed process
PARTIAL_MAX_AGE = 14 * 86400.0  # a download not resumed in two weeks is given up
UPLOAD_GRACE = 3600.0  # an uploaded blob no manifest uses yet is kept this long (awaiting its create)

ProgressFn = Callable[[int, int], None]  # (completed, total)


def default_root() -> Path:
    """``MULLAMA_CACHE_DIR``, else the platform cache (``~/.cache/mullama/models`` on Linux)."""
    env = os.environ.get("MULLAMA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mullama" / "models"


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str
    size: int

    @property
    def kind(self) -> str:
        return _KIND_OF.get(self.media_type, self.media_type)

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Staged:
    """A blob hashed and written into tmp/, waiting for ``Store.commit``."""

    path: Path
    digest: str
    size: int


@dataclass
class ModelRecord:
    """Everything the store knows about one name, read from its manifest."""

    name: ModelName
    digest: str  # sha256 hex of the manifest bytes (Ollama's "digest" in /api/tags)
    modified_at: float
    layers: list[Layer]
    config: dict[str, Any]
    model_path: Path
    model_digest: str
    template: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    license: list[str] = field(default_factory=list)
    model_parts: list[Path] = field(default_factory=list)  # every part of a split GGUF, in order
    adapters: list[Path] = field(default_factory=list)  # LoRA adapters, in order
    projector: Path | None = None
    origin: str = "mullama"  # "ollama": read in place from an Ollama store

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers)

    @property
    def source(self) -> dict[str, Any]:
        return dict(self.config.get("mullama", {}).get("source", {}))

    @property
    def settings(self) -> dict[str, Any]:
        """Mullama's Modelfile directives (GPU_LAYERS, THINKING, TOOLFORMAT, CAPABILITY, DIGEST, ...)."""
        return dict(self.config.get("mullama", {}).get("settings", {}))

    def layers_of(self, kind: str) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == kind]


def default_ollama_root() -> Path | None:
    """The Ollama store to read models from: ``$OLLAMA_MODELS``, else ``~/.ollama/models`` if it exists."""
    env = os.environ.get("OLLAMA_MODELS")
    root = Path(env).expanduser() if env else Path.home() / ".ollama" / "models"
    return root if (root / "manifests").is_dir() else None


class Store:
    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 ollama: str | os.PathLike[str] | bool | None = None, read_only: bool = False):
        """``ollama``: None finds the Ollama store by itself, False ignores it, a path names it."""
        # Resolved once: validated paths are resolved too, and a symlinked root (pytest-current, a
        # home on another disk) must not make them look outside the store.
        self.root = (Path(root).expanduser() if root is not None else default_root()).resolve()
        if ollama is None:
            ollama_root = default_ollama_root()
        elif ollama is False or ollama is True:
            ollama_root = default_ollama_root() if ollama else None
        else:
            ollama_root = Path(ollama).expanduser()
        self.ollama: Store | None = (Store(ollama_root, ollama=False, read_only=True)
                                     if ollama_root is not None and ollama_root != self.root else None)
        self.read_only = read_only
        self.blobs = self.root / "blobs"
        self.manifests = self.root / "manifests"
        self.tmp = self.root / "tmp"
        self._lock = threading.RLock()
        self._gguf_cache: dict[str, GGUFInfo] = {}
        # Parsed manifests, keyed by path and checked against the file's (mtime, size, inode) on
        # every lookup: a request costs a stat, not a read of the manifest and its small layers.
        self._records: dict[Path, tuple[tuple[int, int, int], ModelRecord]] = {}
        self._ensured = False

    # ----------------------------------------------------------------- layout

    def ensure(self) -> None:
        if self._ensured:
            return
        for d in (self.root, self.blobs, self.manifests, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(self.root, 0o700)  # models and prompts are private by default
        self._ensured = True

    def blob_path(self, digest: str) -> Path:
        return safe_join(self.blobs, blob_filename(digest))

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def blob_file(self, digest: str) -> Path:
        """Where a blob is: here, else in the Ollama store."""
        path = self.blob_path(digest)
        if not path.is_file() and self.ollama is not None and self.ollama.has_blob(digest):
            return self.ollama.blob_path(digest)
        return path

    def ensure_blob(self, digest: str) -> None:
        """Make a blob present here, bringing it over from the Ollama store (hard link, else copy)."""
        if self.has_blob(digest):
            return
        if self.ollama is None or not self.ollama.has_blob(digest):
            raise ModelNotFound("", f"blob {digest} is missing", hint="upload it first (POST /api/blobs/<digest>)")
        source, target = self.ollama.blob_path(digest), self.blob_path(digest)
        try:
            os.link(source, target)
        except OSError:
            staged = self.stage_file(source)
            if staged.digest != digest:
                self.discard(staged)
                raise MullamaError(f"blob {digest} of the Ollama store does not match its digest")
            self._publish(staged)

    def _upload_marker(self, blob_name: str) -> Path:
        return self.root / "uploads" / blob_name

    def _upload_pending(self, blob_name: str) -> bool:
        marker = self._upload_marker(blob_name)
        try:
            if marker.stat().st_mtime > time.time() - UPLOAD_GRACE:
                return True
            marker.unlink()
        except OSError:
            pass
        return False

    def import_blob(self, path: Path) -> str:
        """A local file as an uploaded blob (what ``POST /api/blobs`` does, for an embedded client)."""
        staged = self.stage_file(path)
        sink_marker = self._upload_marker(blob_filename(staged.digest))
        with self.locked():
            sink_marker.parent.mkdir(exist_ok=True)
            sink_marker.touch()
            self._publish(staged)
        return staged.digest

    def blob_sink(self, digest: str) -> "BlobSink":
        """Where a streamed upload of ``digest`` goes (see ``BlobSink``)."""
        self.ensure()
        return BlobSink(self, parse_digest(digest))

    def partial_path(self, digest: str) -> Path:
        return safe_join(self.root / "partial", blob_filename(digest)[len("sha256-"):] + ".part")

    @contextlib.contextmanager
    def partial(self, digest: str) -> Iterator[Path]:
        """The resumable download file of ``digest``, held under a lock so one pull writes it."""
        path = self.partial_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def adopt(self, path: Path, digest: str) -> Staged:
        """A verified download, ready for ``commit`` (which moves it into blobs/)."""
        return Staged(path, digest, path.stat().st_size)

    def model_file(self, record: ModelRecord) -> Path:
        """The path to hand llama.cpp: the blob, or for a split model the first of a set of links named
        the way llama.cpp finds the other parts (``model-00001-of-00003.gguf``)."""
        if len(record.model_parts) <= 1:
            return record.model_path
        n = len(record.model_parts)
        d = safe_join(self.root / "splits", record.model_digest[len("sha256:"):])
        d.mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(record.model_parts, 1):
            link = d / f"model-{i:05d}-of-{n:05d}.gguf"
            if not link.is_symlink() or link.resolve() != part.resolve():
                link.unlink(missing_ok=True)
                link.symlink_to(part)
        return d / f"model-00001-of-{n:05d}.gguf"

    def manifest_path(self, name: ModelName) -> Path:
        return safe_join(self.manifests, *name.manifest_parts())

    def find_manifest(self, name: ModelName) -> Path | None:
        """The manifest of ``name``, matched part by part without regard to case (as Ollama does)."""
        exact = self.manifest_path(name)
        if exact.is_file():
            return exact
        d = self.manifests
        for part in name.manifest_parts():
            if not d.is_dir():
                return None
            want = part.lower()
            match = next((c for c in d.iterdir() if c.name.lower() == want), None)
            if match is None:
                return None
            d = match
        return d if d.is_file() else None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.ensure()
        with self._lock:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    # ----------------------------------------------------------------- blobs

    def stage_file(
        self,
        src: str | os.PathLike[str],
        *,
        progress: ProgressFn | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Staged:
        """Copy ``src`` into tmp/ while hashing it. Nothing is visible until ``commit``."""
        self.ensure()
        total = os.stat(src).st_size
        h = hashlib.sha256()
        done = 0
        fd, tmp_name = _mkstemp(self.tmp, "stage-")
        tmp = Path(tmp_name)
        try:
            with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
                while chunk := fin.read(CHUNK):
                    if cancelled is not None and cancelled():
                        raise MullamaError("pull canceled")
                    h.update(chunk)
                    fout.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
                fout.flush()
                os.fsync(fout.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Staged(tmp, "sha256:" + h.hexdigest(), done)

    def stage_bytes(self, data: bytes) -> Staged:
        self.ensure()
        fd, tmp_name = _mkstemp(self.tmp, "stage-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return Staged(Path(tmp_name), "sha256:" + hashlib.sha256(data).hexdigest(), len(data))

    def _publish(self, staged: Staged) -> None:
        target = self.blob_path(staged.digest)
        if target.exists():
            staged.path.unlink(missing_ok=True)
        else:
            os.replace(staged.path, target)

    def discard(self, *staged: Staged) -> None:
        for s in staged:
            s.path.unlink(missing_ok=True)

    def layer_for(self, digest: str) -> Layer:
        """A model layer for a blob already in the store."""
        return Layer(MEDIA["model"], parse_digest(digest), self.blob_path(digest).stat().st_size)

    # ----------------------------------------------------------------- manifests

    def commit(
        self,
        name: ModelName,
        *,
        model: Staged | Layer | list[Staged | Layer],
        template: str | None = None,
        system: str | None = None,
        params: dict[str, Any] | None = None,
        messages: list[dict[str, Any]] | None = None,
        license: list[str] | None = None,
        source: dict[str, Any] | None = None,
        adapters: list[Layer] | None = None,
        projector: Layer | None = None,
        settings: dict[str, Any] | None = None,
    ) -> ModelRecord:
        """Publish the model blob and write ``name``'s manifest, atomically, replacing any old one.

        A staged model is validated as GGUF first; if that (or anything else) fails, the staged file
        is removed and the store is left as it was.
        """
        parts = model if isinstance(model, list) else [model]
        first = parts[0]
        if isinstance(first, Staged):
            try:
                self._gguf_cache[first.digest] = read_gguf(first.path)
            except BaseException:
                self.discard(*(p for p in parts if isinstance(p, Staged)))
                raise
        small: list[tuple[str, bytes]] = []
        if template:
            small.append(("template", template.encode()))
        if system:
            small.append(("system", system.encode()))
        if params:
            small.append(("params", json.dumps(params, sort_keys=True).encode()))
        if messages:
            small.append(("messages", json.dumps(messages).encode()))
        for text in license or []:
            small.append(("license", text.encode()))

        with self.locked():
            layers = []
            for part in parts:
                if isinstance(part, Staged):
                    self._publish(part)
                    layers.append(Layer(MEDIA["model"], part.digest, part.size))
                else:
                    self.ensure_blob(part.digest)
                    layers.append(part)
            model_layer = layers[0]
            for extra in [*(adapters or []), *([projector] if projector else [])]:
                self.ensure_blob(extra.digest)
                layers.append(extra)
            if isinstance(first, Staged):
                # The metadata was read from the staged file; it now lives at its blob path.
                self._gguf_cache[first.digest] = dataclasses.replace(
                    self._gguf_cache[first.digest], path=str(self.blob_path(first.digest)))
            for kind, data in small:
                s = self.stage_bytes(data)
                self._publish(s)
                layers.append(Layer(MEDIA[kind], s.digest, s.size))

            info = self.gguf_info(model_layer.digest)
            config = {
                "model_format": "gguf",
                "model_family": info.architecture,
                "model_families": [info.architecture] if info.architecture else [],
                "model_type": info.parameter_size,
                "file_type": info.quantization_level,
                "os": "linux",
                "architecture": "amd64",
                "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
                "mullama": {"source": source or {}, **({"settings": settings} if settings else {})},
            }
            cfg = self.stage_bytes(json.dumps(config, sort_keys=True).encode())
            self._publish(cfg)
            manifest = {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA,
                "config": {"mediaType": CONFIG_MEDIA, "digest": cfg.digest, "size": cfg.size},
                "layers": [layer.to_json() for layer in layers],
            }
            old = self.find_manifest(name)
            path = old if old is not None else self.manifest_path(name)
            _write_atomic(self.tmp, path, json.dumps(manifest, indent=2).encode())
            for layer in layers:  # uploads now referenced: no longer pending
                self._upload_marker(blob_filename(layer.digest)).unlink(missing_ok=True)
            if old is not None:
                self._prune_locked()
        return self.load(name)

    def load(self, name: ModelName | str) -> ModelRecord:
        """The record of an existing model; ModelNotFound if there is none."""
        if isinstance(name, str):
            name = ModelName.parse(name)
        path = self.find_manifest(name)
        if path is None:
            if self.ollama is not None:
                try:
                    return self.ollama.load(name)
                except ModelNotFound:
                    pass
            raise ModelNotFound(str(name))
        return self._read(name, path)

    def _read(self, name: ModelName, path: Path) -> ModelRecord:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        cached = self._records.get(path)
        if cached is not None and cached[0] == stamp:
            return dataclasses.replace(cached[1], params=dict(cached[1].params))
        record = self._parse(name, path)
        self._records[path] = (stamp, record)
        return record

    def _parse(self, name: ModelName, path: Path) -> ModelRecord:
        raw = path.read_bytes()
        try:
            manifest = json.loads(raw)
            config_layer = manifest["config"]
            layers = [Layer(x["mediaType"], parse_digest(x["digest"]), int(x["size"])) for x in manifest["layers"]]
            config = json.loads(self.blob_path(config_layer["digest"]).read_bytes())
        except (OSError, ValueError, KeyError, TypeError, MullamaError) as e:
            raise MullamaError(f"model '{name}' has a damaged manifest ({type(e).__name__})",
                               hint=f"remove it: mullama rm {name}") from None
        # The manifest path carries the case the model was stored under; report that.
        rel = path.relative_to(self.manifests).parts
        name = ModelName(*rel) if len(rel) == 4 else name
        record = ModelRecord(
            name=name,
            digest=_sha256_hex(raw),
            modified_at=path.stat().st_mtime,
            layers=layers,
            config=config,
            model_path=Path(),
            model_digest="",
            origin="ollama" if self.read_only else "mullama",
        )
        for layer in layers:
            kind = layer.kind
            if kind == "model":
                if not record.model_digest:
                    record.model_digest = layer.digest
                    record.model_path = self.blob_path(layer.digest)
                record.model_parts.append(self.blob_path(layer.digest))
            elif kind == "adapter":
                record.adapters.append(self.blob_path(layer.digest))
            elif kind == "projector":
                record.projector = self.blob_path(layer.digest)
            elif kind in ("template", "system", "license", "params", "messages"):
                text = self.blob_path(layer.digest).read_text(encoding="utf-8", errors="replace")
                if kind == "template":
                    record.template = text
                elif kind == "system":
                    record.system = text
                elif kind == "license":
                    record.license.append(text)
                elif kind == "params":
                    record.params = json.loads(text)
                else:
                    record.messages = json.loads(text)
        if not record.model_digest:
            raise MullamaError(f"model '{name}' has no model layer", hint=f"remove it: mullama rm {name}")
        return record

    def list(self) -> list[ModelRecord]:
        """Every model, newest first. A damaged manifest is logged and skipped, not fatal."""
        out: list[ModelRecord] = []
        for path in self.manifests.glob("*/*/*/*") if self.manifests.is_dir() else ():
            if not path.is_file():
                continue
            try:
                name = ModelName(*path.relative_to(self.manifests).parts)
                ModelName.parse(name.full)  # a stray file with an invalid name is not a model
                out.append(self._read(name, path))
            except (MullamaError, InvalidName, TypeError) as e:
                log.warning("skipping %s: %s", path.relative_to(self.root), e)
        if self.ollama is not None:
            mine = {r.name.key for r in out}
            out.extend(r for r in self.ollama.list() if r.name.key not in mine)
        out.sort(key=lambda r: r.modified_at, reverse=True)
        return out

    def copy(self, src: ModelName | str, dst: ModelName | str) -> ModelRecord:
        """A manifest copy; a model of the Ollama store brings its blobs along (hard-linked if possible)."""
        src_name = ModelName.parse(src) if isinstance(src, str) else src
        dst_name = ModelName.parse(dst) if isinstance(dst, str) else dst
        with self.locked():
            src_path = self.find_manifest(src_name)
            if src_path is None and self.ollama is not None:
                src_path = self.ollama.find_manifest(src_name)
                if src_path is not None:
                    self._import_blobs(json.loads(src_path.read_bytes()))
            if src_path is None:
                raise ModelNotFound(str(src_name), f'model "{src}" not found')
            data = src_path.read_bytes()
            dst_path = self.find_manifest(dst_name) or self.manifest_path(dst_name)
            _write_atomic(self.tmp, dst_path, data)
        return self.load(dst_name)

    def _import_blobs(self, manifest: dict[str, Any]) -> None:
        for layer in [manifest["config"], *manifest["layers"]]:
            self.ensure_blob(parse_digest(layer["digest"]))

    def delete(self, name: ModelName | str) -> None:
        model_name = ModelName.parse(name) if isinstance(name, str) else name
        with self.locked():
            path = self.find_manifest(model_name)
            if path is None and self.ollama is not None and self.ollama.find_manifest(model_name) is not None:
                raise InvalidRequest(f"'{name}' is in the Ollama store, which mullama only reads",
                                     hint=f"remove it with: ollama rm {name}")
            if path is None:
                raise ModelNotFound(str(name))
            path.unlink()
            _remove_empty_parents(path.parent, self.manifests)
            self._prune_locked()

    def _prune_locked(self) -> int:
        referenced: set[str] = set()
        for path in self.manifests.glob("*/*/*/*"):
            try:
                m = json.loads(path.read_bytes())
                referenced.add(blob_filename(m["config"]["digest"]))
                referenced.update(blob_filename(x["digest"]) for x in m["layers"])
            except (OSError, ValueError, KeyError, TypeError, MullamaError):
                # A manifest we cannot read might still own blobs: prune nothing rather than lose data.
                log.warning("not pruning: cannot read %s", path.relative_to(self.root))
                return 0
        removed = 0
        for blob in self.blobs.iterdir():
            # An uploaded blob waits for its create request; give it time before treating it as garbage.
            if blob.name not in referenced and not self._upload_pending(blob.name):
                blob.unlink(missing_ok=True)
                self._gguf_cache.pop("sha256:" + blob.name[7:], None)
                removed += 1
        splits = self.root / "splits"
        if splits.is_dir():
            for d in splits.iterdir():
                if f"sha256-{d.name}" not in referenced:
                    shutil.rmtree(d, ignore_errors=True)
        return removed

    def sweep_tmp(self, max_age: float = TMP_MAX_AGE) -> int:
        """Remove what killed processes left in tmp/ (not files still being written)."""
        if not self.tmp.is_dir():
            return 0
        n = 0
        for d, age in ((self.tmp, max_age), (self.root / "partial", PARTIAL_MAX_AGE)):
            if not d.is_dir():
                continue
            cutoff = time.time() - age
            for f in d.iterdir():
                with contextlib.suppress(OSError):
                    if f.is_file() and f.stat().st_mtime < cutoff:
                        f.unlink()
                        n += 1
        return n

    # ----------------------------------------------------------------- metadata

    def gguf_info(self, digest: str) -> GGUFInfo:
        """GGUF metadata of a blob, parsed once (blobs are immutable, so the cache never goes stale)."""
        digest = parse_digest(digest)
        info = self._gguf_cache.get(digest)
        if info is None:
            info = read_gguf(self.blob_file(digest))
            self._gguf_cache[digest] = info
        return info


def _mkstemp(directory: Path, prefix: str) -> tuple[int, str]:
    return tempfile.mkstemp(dir=directory, prefix=prefix)


def _write_atomic(tmp_dir: Path, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _mkstemp(tmp_dir, "manifest-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _remove_empty_parents(d: Path, stop: Path) -> None:
    while d != stop and d.is_relative_to(stop):
        try:
            d.rmdir()
        except OSError:
            return
        d = d.parent


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobSink:
    """A blob arriving in chunks: hashed and written in order on a thread of its own, published under
    the store lock only if its sha256 is the one the client claimed."""

    def __init__(self, store: Store, digest: str):
        from concurrent.futures import ThreadPoolExecutor

        self.store, self.digest = store, digest
        fd, name = _mkstemp(store.tmp, "upload-")
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.hash = hashlib.sha256()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mullama-upload")
        self.done = False

    def submit(self, chunk: bytes) -> Any:
        return self.pool.submit(self._write, chunk)

    def _write(self, chunk: bytes) -> None:
        self.hash.update(chunk)
        self.file.write(chunk)

    def finish(self) -> bool:
        """True if the blob is new, False if it was already there. A wrong digest is a 400."""
        self.pool.shutdown(wait=True)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        got = "sha256:" + self.hash.hexdigest()
        self.done = True
        if got != self.digest:
            self.path.unlink(missing_ok=True)
            raise InvalidRequest(f'digest mismatch, expected "{self.digest}", got "{got}"')
        with self.store.locked():
            marker = self.store._upload_marker(blob_filename(self.digest))
            marker.parent.mkdir(exist_ok=True)
            marker.touch()
            if self.store.has_blob(self.digest):
                self.path.unlink(missing_ok=True)
                return False
            os.replace(self.path, self.store.blob_path(self.digest))
            return True

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.pool.shutdown(wait=True)
        self.file.close()
        self.path.unlink(missing_ok=True)
