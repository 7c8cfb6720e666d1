"""Pulling from Hugging Face, through ``huggingface_hub``, straight into the model store.

- The repository listing (``HfApi.model_info(files_metadata=True)``) gives the commit a revision
  resolves to and each file's size and LFS sha256; the quant is chosen from it (``quant.choose``).
- Each file streams into ``<store>/partial/<sha256>.part`` with ``huggingface_hub``'s ``http_get``,
  which retries dropped or stalled connections (resuming past the 10 MiB chunks it has written). A
  killed or failed pull leaves the part file; the next pull asks only for the missing bytes (``Range``).
  A per-file lock makes concurrent pulls of one file download it once.
- The sha256 of the finished file must equal the hub's LFS oid (and a ``DIGEST`` pin, if given)
  before the blob is published; a mismatch deletes the partial file.
- ``HF_TOKEN`` (or a saved login) authenticates, ``HF_ENDPOINT`` picks the hub, ``HF_HUB_OFFLINE``
  stops any request. Hub files are written only under content-addressed names: a hostile file name
  in a listing never becomes a path.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from .errors import InsufficientStorage, InvalidRequest, ModelNotFound, PullError
from .native import Progress
from .quant import choose
from .spec import Spec, hf_name, valid_filename
from .store import Layer, ModelRecord, Staged, Store
from .system import human_bytes

log = logging.getLogger(__name__)

Emit = Callable[[Progress], None]
PROGRESS_INTERVAL = 0.06
_TRUE = {"1", "on", "yes", "true"}


def offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


class _Cancelled(Exception):
    """Raised from inside ``http_get`` (through its progress bar) to stop a download between chunks."""


class _Bar:
    """What ``http_get`` expects of a progress bar (tqdm's ``update`` and context manager), reporting
    through our callback at most every 60 ms, and the one hook inside ``http_get``'s loop: a cancelled
    pull stops at its next chunk instead of downloading to the end."""

    def __init__(self, report: Callable[[int], None], cancelled: Callable[[], bool] = lambda: False,
                 initial: int = 0, **_: Any):
        self.report = report
        self.cancelled = cancelled
        self.n = initial
        self.last = 0.0

    def update(self, n: int = 1) -> None:
        if self.cancelled():
            raise _Cancelled
        self.n += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.report(self.n)

    def __enter__(self) -> "_Bar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.report(self.n)

    def close(self) -> None:
        pass


def _hub_error(e: Exception, spec: Spec) -> Exception:
    """huggingface_hub's exceptions as ours, each with the next step."""
    from huggingface_hub import errors as hf

    repo = spec.repo
    if isinstance(e, hf.GatedRepoError):
        return PullError(f"{repo} is gated: access needs a Hugging Face token with permission",
                         hint="accept the license on huggingface.co, then set HF_TOKEN")
    if isinstance(e, hf.RevisionNotFoundError):
        return ModelNotFound(spec.text, f'revision "{spec.revision}" not found in {repo}',
                             hint="use a branch, tag or commit that exists")
    if isinstance(e, hf.RepositoryNotFoundError):
        return ModelNotFound(spec.text, "pull model manifest: file does not exist",
                             hint=f"no repository {repo} on {endpoint()} (or it is private: set HF_TOKEN)")
    if isinstance(e, (hf.EntryNotFoundError, getattr(hf, "RemoteEntryNotFoundError", hf.EntryNotFoundError))):
        return ModelNotFound(spec.text, f"file not found in {repo}", hint="check the file name with the repository")
    if isinstance(e, hf.OfflineModeIsEnabled):
        return PullError("offline mode is on (HF_HUB_OFFLINE=1)", hint="unset HF_HUB_OFFLINE to download")
    if isinstance(e, hf.HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            return PullError(f"{repo} refused the download ({status})", hint="set HF_TOKEN to a token with access")
        return PullError(f"Hugging Face answered {status or 'an error'} for {repo}", hint="try again later")
    if "Timeout" in type(e).__name__:
        return PullError(f"download stalled: {endpoint()} sent nothing for {_timeout()} s, several times over",
                         hint="pull again: it resumes where it stopped")
    return PullError(f"download from {endpoint()} failed: {type(e).__name__}: {e}".rstrip(": "),
                     hint="check the network and pull again: it resumes where it stopped")


def _timeout() -> int:
    from huggingface_hub import constants

    return int(os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or constants.HF_HUB_DOWNLOAD_TIMEOUT)


def fetch(store: Store, spec: Spec, emit: Emit, cancelled: Callable[[], bool], *,
          params: dict[str, Any] | None = None, digest: str | None = None) -> ModelRecord:
    from huggingface_hub import HfApi, get_token

    if offline():
        raise PullError(f"offline mode is on (HF_HUB_OFFLINE=1) and '{spec.text}' is not in the store",
                        hint="unset HF_HUB_OFFLINE, or pull it where the hub is reachable")
    emit(Progress("pulling manifest"))
    token = get_token()
    try:
        info = HfApi(endpoint=endpoint(), token=token).model_info(
            spec.repo, revision=spec.revision or "main", files_metadata=True)
    except Exception as e:  # noqa: BLE001 - every hub failure becomes one of ours
        raise _hub_error(e, spec) from None
    commit = info.sha or spec.revision or "main"
    siblings = {s.rfilename: s for s in (info.siblings or [])}
    listed = []
    for name in siblings:
        try:
            listed.append(valid_filename(name))
        except InvalidRequest:
            log.warning("ignoring the invalid file name %r listed by %s", name[:200], spec.repo)
    if spec.file:
        if spec.file not in siblings:
            raise ModelNotFound(spec.text, f"file {spec.file} not found in {spec.repo}",
                                hint="check the exact file name (it is case-sensitive)")
        parts: tuple[str, ...] = (spec.file,)
        tag = None
    else:
        unit = choose(listed, spec.quant, repo=spec.repo)
        parts = unit.parts
        tag = unit.quant or unit.name[: -len(".gguf")]
    name = spec.name or hf_name(spec.repo, tag or parts[0])
    files = []
    for part in parts:
        sib = siblings[part]
        lfs = sib.lfs
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        size = (getattr(lfs, "size", None) if lfs is not None else None) or sib.size
        if not sha or size is None:
            raise PullError(f"{spec.repo} does not say the sha256 of {part}, so it cannot be verified",
                            hint="pull a GGUF stored with Git LFS")
        files.append((part, "sha256:" + sha.lower(), int(size)))
    if digest and len(files) == 1 and files[0][1] != digest:
        raise PullError(f"digest mismatch: expected {digest}, got {files[0][1]}",
                        hint="the pin and the repository disagree; check the DIGEST or the revision")
    _check_space(store, files)

    from huggingface_hub.utils import build_hf_headers

    headers = build_hf_headers(token=token)
    source = {"kind": "hf", "repo": spec.repo, "file": parts[0] if len(parts) == 1 else list(parts),
              "revision": spec.revision or "main", "commit": commit}
    if spec.alias is not None:
        source["alias"] = str(spec.alias.name)
    # Each file's lock is held until the manifest is written: a concurrent pull of the same file waits,
    # then finds the blob published instead of racing for the half-moved download.
    with contextlib.ExitStack() as locks:
        layers: list[Staged | Layer] = []
        for part, want, size in files:
            label = f"pulling {want[7:19]}"
            part_path = locks.enter_context(store.partial(want))
            if store.has_blob(want):  # already here, or another pull finished it while we waited
                emit(Progress(label, digest=want, total=size, completed=size))
                layers.append(store.layer_for(want))
                continue
            layers.append(_download(store, spec, part, want, size, part_path, commit, headers, emit, cancelled))
        emit(Progress("writing manifest"))
        record = store.commit(name, model=layers if len(layers) > 1 else layers[0], params=params, source=source)
    emit(Progress("success"))
    return record


def _download(store: Store, spec: Spec, part: str, want: str, size: int, part_path: Path, commit: str,
              headers: dict[str, str], emit: Emit, cancelled: Callable[[], bool]) -> Staged:
    from huggingface_hub import hf_hub_url
    from huggingface_hub.file_download import http_get

    label = f"pulling {want[7:19]}"
    done = part_path.stat().st_size if part_path.exists() else 0
    if done > size:  # not the file we expect: start over
        part_path.unlink()
        done = 0
    report = functools.partial(_report, emit, label, want, size)
    report(done)
    if done < size:
        url = hf_hub_url(spec.repo, part, revision=commit, endpoint=endpoint())
        try:
            with open(part_path, "ab") as f:
                http_get(url, f, resume_size=done, headers=headers, expected_size=size,
                         displayed_filename=part.rsplit("/", 1)[-1],
                         tqdm_class=functools.partial(_Bar, report, cancelled))  # type: ignore[arg-type]
        except _Cancelled:
            raise PullError("pull canceled", hint="pull again to resume") from None
        except Exception as e:  # noqa: BLE001 - the part file stays for the next attempt
            raise _hub_error(e, spec) from None
    if cancelled():
        raise PullError("pull canceled", hint="pull again to resume")
    emit(Progress("verifying sha256 digest"))
    got = _sha256(part_path)
    if got != want:
        part_path.unlink(missing_ok=True)
        raise PullError(f"sha256 mismatch for {part}: expected {want}, got {got}",
                        hint="the download was corrupted and has been deleted; pull again")
    return store.adopt(part_path, want)


def _report(emit: Emit, label: str, digest: str, total: int, done: int) -> None:
    emit(Progress(label, digest=digest, total=total, completed=done))


def _check_space(store: Store, files: list[tuple[str, str, int]]) -> None:
    store.ensure()
    need = 0
    for _, digest, size in files:
        if store.has_blob(digest):
            continue
        partial = store.partial_path(digest)
        need += size - (partial.stat().st_size if partial.exists() else 0)
    have = shutil.disk_usage(store.root).free
    if need > have:
        raise InsufficientStorage(f"insufficient disk space: need {human_bytes(need)}, have {human_bytes(have)}",
                                  hint="free some space or set MULLAMA_CACHE_DIR to a larger disk")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
