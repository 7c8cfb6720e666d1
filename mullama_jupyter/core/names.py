"""Model names, blob digests and store paths: the one validator every path passes first.

Holds :class:`ModelName` (Ollama's ``[host/][namespace/]model[:tag]`` grammar from
``types/model/name.go``), :func:`parse_digest` / :func:`blob_filename` for ``sha256`` digests,
:func:`safe_join` for building paths under the store root, :func:`is_gguf_path` for telling a
plain GGUF path from a model name, and :func:`name_from_filename` for naming imported files.

Nothing here touches the filesystem except :func:`safe_join`, which only resolves paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mullama_jupyter.core.errors import InvalidDigest, InvalidName

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_TAG",
    "DIGEST_RE",
    "ModelName",
    "blob_filename",
    "is_gguf_path",
    "is_valid_name",
    "name_from_filename",
    "parse_digest",
    "parse_name",
    "safe_join",
]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# Ollama's manifest/paths.go pattern. ``\Z`` rather than ``$`` because Python's ``$`` also matches
# before a trailing newline, so ``re.match(DIGEST_RE, d)`` would let "sha256:<hex>\n" through.
DIGEST_RE = r"^sha256[:-]([0-9a-fA-F]{64})\Z"
_DIGEST = re.compile(DIGEST_RE)

# Explicit ASCII classes (never \w, which matches any Unicode letter): Ollama checks bytes, and a
# look-alike letter must not name a different directory from the one the user sees.
_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_MODEL_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")
_TAG_RE = _MODEL_RE

_INVALID = "invalid model name"


def _check_part(pattern: re.Pattern[str], part: object, name: str) -> None:
    # fullmatch, not match + "$": a trailing "\n" must not slip through.
    if not isinstance(part, str) or pattern.fullmatch(part) is None:
        raise InvalidName(name, _INVALID)
    # The first-character rule already forbids a leading dot; this stays in case that rule is
    # ever relaxed, because "." or ".." as a directory name would walk out of the manifests tree.
    if part in (".", ".."):
        raise InvalidName(name, _INVALID)


@dataclass(frozen=True)
class ModelName:
    """A valid model name, with the defaults filled in.

    Constructing one validates every part, so holding a ``ModelName`` means its parts are safe to
    use as path segments. Equality is exact; use :attr:`key` to compare the way Ollama matches
    existing models (case-insensitively).
    """

    host: str
    namespace: str
    model: str
    tag: str

    def __post_init__(self) -> None:
        shown = f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        _check_part(_HOST_RE, self.host, shown)
        _check_part(_NAMESPACE_RE, self.namespace, shown)
        _check_part(_MODEL_RE, self.model, shown)
        _check_part(_TAG_RE, self.tag, shown)
        # Ollama compares the defaults case-insensitively when shortening a name. Storing them in
        # their canonical spelling keeps that behaviour while letting ``parse(display)`` give back
        # an equal name, and keeps "Library/m" and "library/m" in one manifest directory.
        if self.host.lower() == DEFAULT_HOST:
            object.__setattr__(self, "host", DEFAULT_HOST)
        if self.namespace.lower() == DEFAULT_NAMESPACE:
            object.__setattr__(self, "namespace", DEFAULT_NAMESPACE)

    @classmethod
    def parse(cls, s: str) -> ModelName:
        """Parse ``[host/][namespace/]model[:tag]``; raise :class:`InvalidName` if it breaks the grammar."""
        if not isinstance(s, str):
            raise InvalidName("" if s is None else str(s), _INVALID)
        # We never contact a registry named by the caller (SSRF guard), so a scheme is refused
        # outright rather than parsed and ignored as Ollama does.
        if "://" in s:
            raise InvalidName(s, _INVALID)

        rest, tag = s, DEFAULT_TAG
        # "/" cannot appear in a tag, so only a ":" after the last "/" starts one; an earlier ":"
        # is a host port.
        colon = s.rfind(":")
        if colon > s.rfind("/"):
            rest, tag = s[:colon], s[colon + 1 :]

        pieces = rest.split("/")
        if len(pieces) > 3:
            raise InvalidName(s, _INVALID)
        host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
        if len(pieces) == 3:
            host, namespace, model = pieces
        elif len(pieces) == 2:
            namespace, model = pieces
        else:
            (model,) = pieces
        # An empty piece next to a separator ("a/", ":b", "a//b") is Ollama's "!MISSING!" part;
        # the part patterns reject the empty string, so constructing the name catches it.
        try:
            return cls(host, namespace, model, tag)
        except InvalidName:
            raise InvalidName(s, _INVALID) from None

    @property
    def display(self) -> str:
        """Ollama's ``DisplayShortest``: ``llama3.2:latest``, ``user/m:tag``, ``myhost:5000/ns/m:tag``."""
        if self.host != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        """Every part spelled out: ``registry.ollama.ai/library/llama3.2:latest``."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity for lookups: Ollama matches existing models case-insensitively, part by part."""
        return (self.host.lower(), self.namespace.lower(), self.model.lower(), self.tag.lower())

    def manifest_parts(self) -> tuple[str, str, str, str]:
        """``(host, namespace, model, tag)``: the path segments under ``manifests/``."""
        return (self.host, self.namespace, self.model, self.tag)

    def __str__(self) -> str:
        return self.display


def parse_name(s: str) -> ModelName:
    """Same as :meth:`ModelName.parse`."""
    return ModelName.parse(s)


def is_valid_name(s: str) -> bool:
    """Whether ``s`` parses as a model name."""
    try:
        ModelName.parse(s)
    except InvalidName:
        return False
    return True


def parse_digest(d: str) -> str:
    """Return the canonical ``sha256:<lowercase hex>`` form of ``d``; raise :class:`InvalidDigest` otherwise.

    Accepts ``sha256:<64 hex>`` and the on-disk ``sha256-<64 hex>``, in either letter case.
    """
    m = _DIGEST.match(d) if isinstance(d, str) else None
    if m is None:
        raise InvalidDigest(d)
    return f"sha256:{m.group(1).lower()}"


def blob_filename(digest: str) -> str:
    """The file name a blob is stored under: ``sha256-<hex>`` (":" is not portable in file names)."""
    return "sha256-" + parse_digest(digest).removeprefix("sha256:")


def is_gguf_path(s: str) -> bool:
    """Whether ``s`` reads as a path to a GGUF file rather than a model name (syntax only)."""
    # "hf:owner/repo:file.gguf" names a file on the Hub, not on this disk; the hf: spec parser owns it.
    if not isinstance(s, str) or s.startswith("hf:"):
        return False
    return s.lower().endswith(".gguf") or s.startswith(("/", "./", "../", "~/"))


def safe_join(root: Path, *parts: str) -> Path:
    """Join ``parts`` onto ``root`` and resolve the result.

    Raises :class:`InvalidName` unless the resolved path is strictly inside the resolved ``root``
    (symlinks included). Every path in the model store is built here.
    """
    joined = "/".join(str(p) for p in parts)
    try:
        base = Path(root).resolve()
        target = base.joinpath(*parts).resolve()
    except (ValueError, OSError, TypeError):
        # A NUL byte or a non-string part: refuse the same way as an escape, without echoing
        # a path into the message (error bodies must not leak the store location).
        raise InvalidName(joined, "invalid path") from None
    # is_relative_to compares whole components, so "<root>_evil" is not inside "<root>"
    # (Jupyter CVE-2026-35397 used a plain string prefix check).
    if target == base or not target.is_relative_to(base):
        raise InvalidName(joined, "invalid path")
    return target


_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_.-]")
_LEADING_JUNK = re.compile(r"^[^a-z0-9_]+")


def name_from_filename(stem: str) -> ModelName:
    """A model name for an imported file.

    ``SmolLM2-135M-Instruct.Q4_1`` → ``smollm2-135m-instruct.q4_1:latest``: lower-cased, other
    characters turned into ``-``, leading ``.``/``-`` dropped, at most 80 characters.
    """
    model = _NOT_NAME_CHAR.sub("-", str(stem).lower())
    model = _LEADING_JUNK.sub("", model)[:80]
    if not model:
        raise InvalidName(str(stem), _INVALID)
    return ModelName(DEFAULT_HOST, DEFAULT_NAMESPACE, model, DEFAULT_TAG)
