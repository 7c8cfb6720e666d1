"""What a user may type to name a model, parsed by one function.

    alias[:tag]                 llama3.2:1b          an entry of the alias table
    alias-QUANT                 llama3.2:1b-q8       the alias, another quant (group or exact)
    hf:owner/repo               hf:bartowski/Llama-3.2-1B-Instruct-GGUF    quant chosen by DEFAULT_ORDER
    hf:owner/repo:QUANT         hf:owner/repo:Q4_K_M
    hf:owner/repo:file.gguf     hf:owner/repo:Llama-3.2-1B-Instruct-Q8_0.gguf
    any of those + @revision    hf:owner/repo:Q4_K_M@v1.0, llama3.2:1b@3f2a9c1 (branch, tag or commit)
    ./path/to/model.gguf        a local file
    name[:tag]                  any stored model (namespace/name:tag, host/namespace/name:tag)

An ``hf:`` pull is stored under ``hf.co/<owner>/<repo>:<QUANT>`` (the tag is the quant, or the file
stem when a file was named); an alias under its own name (with the quant suffix when one was given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .aliases import Alias, find_alias
from .errors import InvalidName, InvalidRequest
from .names import ModelName, is_gguf_path, name_from_filename
from .quant import GROUPS, KNOWN, QUANT_SYNTAX

HF_HOST = "hf.co"
# Hugging Face repo ids: owner/name, letters, digits, '-', '_', '.', no '..' or '--' runs at the ends.
_REPO_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_ALIAS_QUANT = re.compile(r"^(?P<base>.+?)-(?P<quant>(?:i?q\d(?:_[a-z0-9]+)*)|f16|f32|bf16)$", re.IGNORECASE)
_TAG_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Spec:
    kind: str  # "alias" | "hf" | "file" | "name"
    text: str
    name: ModelName | None = None  # where it is stored; None for an hf: spec whose quant is not chosen yet
    repo: str = ""
    file: str | None = None
    quant: str | None = None
    revision: str | None = None
    alias: Alias | None = None
    path: Path | None = None


def valid_repo(repo: str) -> str:
    parts = repo.split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) and ".." not in p and "--" not in p for p in parts):
        raise InvalidRequest(f'invalid Hugging Face repository "{repo}"', hint="write it as hf:owner/repo")
    return repo


def valid_filename(name: str) -> str:
    """A repository file name we are willing to ask for: relative, no '..', no backslash, no NUL."""
    if (not name or name.startswith(("/", "~")) or "\\" in name or "\0" in name
            or any(part in ("", ".", "..") for part in name.split("/")) or ":" in name.split("/")[0][:3]):
        raise InvalidRequest(f"invalid filename {name!r} in the repository listing")
    return name


def _tag_from(text: str) -> str:
    tag = _TAG_SAFE.sub("-", text).lstrip(".-")[:80]
    if not tag:
        raise InvalidName(text)
    return tag


def hf_name(repo: str, tag: str) -> ModelName:
    owner, model = repo.split("/")
    # Ollama's grammar allows no '.' in a namespace; HF owners rarely have one, but keep names valid.
    return ModelName.parse(f"{HF_HOST}/{owner.replace('.', '-')}/{model}:{_tag_from(tag)}")


def split_revision(text: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    base, rev = text.rsplit("@", 1)
    if not _REVISION.match(rev) or ".." in rev:
        raise InvalidRequest(f'invalid revision "{rev}"', hint="a branch, tag or commit sha")
    return base, rev


def parse_spec(text: str, aliases: dict[tuple[str, ...], Alias]) -> Spec:
    text = (text or "").strip()
    if not text:
        raise InvalidRequest("model is required")
    if is_gguf_path(text):
        path = Path(text).expanduser()
        stem = path.name[: -len(".gguf")] if path.name.lower().endswith(".gguf") else path.name
        return Spec("file", text, name=name_from_filename(stem), path=path)
    base, revision = split_revision(text)
    if base.startswith("hf:"):
        return _parse_hf(text, base[3:], revision)
    try:
        name = ModelName.parse(base)
    except InvalidName:
        raise InvalidName(text) from None
    alias = find_alias(name, aliases)
    if alias is not None:
        return Spec("alias", text, name=alias.name, repo=alias.repo, file=alias.file or None, revision=revision,
                    alias=alias)
    m = _ALIAS_QUANT.match(base)
    if m and (alias := find_alias(ModelName.parse(m["base"]), aliases)) is not None:
        quant = m["quant"].upper()
        if quant not in GROUPS and quant not in KNOWN:
            raise InvalidRequest(f'unknown quantization "{m["quant"]}"', hint="e.g. -q4, -q8, -q4_k_m, -f16")
        return Spec("alias", text, name=name, repo=alias.repo, quant=quant, revision=revision, alias=alias)
    if revision is not None:
        raise InvalidRequest(f'"{text}": a revision only applies to hf: specs and aliases')
    return Spec("name", text, name=name)


def _parse_hf(text: str, rest: str, revision: str | None) -> Spec:
    repo, _, selector = rest.partition(":")
    valid_repo(repo)
    if not selector:
        return Spec("hf", text, repo=repo, revision=revision)
    if selector.lower().endswith(".gguf"):
        valid_filename(selector)
        stem = selector.rsplit("/", 1)[-1][: -len(".gguf")]
        return Spec("hf", text, name=hf_name(repo, stem), repo=repo, file=selector, revision=revision)
    if not QUANT_SYNTAX.match(selector):
        raise InvalidRequest(f'invalid quantization "{selector}" in "{text}"', hint="e.g. Q4_K_M, Q8_0, F16")
    quant = selector.upper()
    return Spec("hf", text, name=hf_name(repo, quant), repo=repo, quant=quant, revision=revision)
