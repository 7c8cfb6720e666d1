"""Text renderings shared by the CLI and the magics: model tables, ``show`` sections, pull progress.

They take the Ollama wire shapes (what ``Client`` returns), so both surfaces print the same thing
whichever transport is in use.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from .core.native import Progress, Metrics
from .core.system import human_bytes

_UNITS = (("year", 31536000), ("month", 2592000), ("week", 604800), ("day", 86400), ("hour", 3600),
          ("minute", 60), ("second", 1))


def _parse(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None


def _span(secs: float) -> str | None:
    for unit, size in _UNITS:
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return None


def ago(iso: str) -> str:
    then = _parse(iso)
    if then is None:
        return iso
    span = _span(max(0.0, (datetime.now(then.tzinfo) - then).total_seconds()))
    return f"{span} ago" if span else "Less than a second ago"


def until(iso: str) -> str:
    then = _parse(iso)
    if then is None:
        return iso
    secs = (then - datetime.now(then.tzinfo)).total_seconds()
    if secs > 100 * 365 * 86400:
        return "Forever"
    if secs <= 0:
        return "Stopping..."
    span = _span(secs)
    return f"{span} from now" if span else "Less than a second from now"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("    ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def models_table(tags: dict[str, Any]) -> str:
    models = tags["models"]
    rows = [[m["name"], m["digest"][:12], human_bytes(m["size"]), ago(m["modified_at"])] for m in models]
    if any(m.get("origin") for m in models):  # some are read in place from an Ollama store
        return table([r + [m.get("origin", "")] for r, m in zip(rows, models)], ["NAME", "ID", "SIZE", "MODIFIED", "FROM"])
    return table(rows, ["NAME", "ID", "SIZE", "MODIFIED"])


def aliases_table(aliases: list[dict[str, Any]]) -> str:
    rows = [[a["name"], a.get("repo", ""), a.get("file", "") or "(best quant)", ",".join(a.get("tags", []))]
            for a in aliases]
    return table(rows, ["NAME", "REPOSITORY", "FILE", "TAGS"])


def ps_table(ps: dict[str, Any]) -> str:
    rows = [[m["name"], m["digest"][:12], human_bytes(m["size"]), "100% CPU", str(m.get("context_length", "")),
             until(m["expires_at"])] for m in ps["models"]]
    return table(rows, ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"])


def show_text(info: dict[str, Any]) -> str:
    """Sections like ``ollama show``: Model, Capabilities, Parameters, System, License, Source."""
    d = info.get("details", {})
    mi = info.get("model_info", {})
    arch = d.get("family", "")
    rows = [("architecture", arch), ("parameters", d.get("parameter_size", "")),
            ("context length", str(mi.get(f"{arch}.context_length", d.get("context_length", "")))),
            ("embedding length", str(mi.get(f"{arch}.embedding_length", d.get("embedding_length", "")))),
            ("quantization", d.get("quantization_level", ""))]
    out = ["  Model"] + [f"    {k:<20}{v}" for k, v in rows if v]
    out += ["", "  Capabilities"] + [f"    {c}" for c in info.get("capabilities", [])]
    if info.get("parameters"):
        out += ["", "  Parameters"] + [f"    {line}" for line in info["parameters"].splitlines()]
    if info.get("system"):
        out += ["", "  System"] + [f"    {line}" for line in info["system"].splitlines()[:5]]
    if info.get("license"):
        out += ["", "  License"] + [f"    {line}" for line in info["license"].splitlines()[:3]]
    source = info.get("mullama_source") or {}
    if source:
        where = source.get("package") or source.get("repo") or source.get("file") or ""
        out += ["", "  Source", f"    {source.get('kind', '')} {where}".rstrip()]
        if source.get("kind") == "hf":
            files = source.get("file")
            out += [f"    file                {', '.join(files) if isinstance(files, list) else files}",
                    f"    revision            {source.get('revision', 'main')}",
                    f"    commit              {source.get('commit', '')}"]
    return "\n".join(out) + "\n"


def metrics_text(m: Metrics) -> str:
    def rate(n: int, ns: int) -> str:
        return f"{n / (ns / 1e9):.2f} tokens/s" if ns else "-"

    return (f"total duration:       {m.total_duration / 1e9:.3f}s\n"
            f"load duration:        {m.load_duration / 1e9:.3f}s\n"
            f"prompt eval count:    {m.prompt_eval_count} token(s)\n"
            f"prompt eval duration: {m.prompt_eval_duration / 1e9:.3f}s\n"
            f"prompt eval rate:     {rate(m.prompt_eval_count, m.prompt_eval_duration)}\n"
            f"eval count:           {m.eval_count} token(s)\n"
            f"eval duration:        {m.eval_duration / 1e9:.3f}s\n"
            f"eval rate:            {rate(m.eval_count, m.eval_duration)}")


class ProgressPrinter:
    """One line per step; a live percentage for byte transfers on a terminal, the final one otherwise."""

    def __init__(self, stream: Any = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if live is None else live
        self.live = False

    def __call__(self, p: Progress) -> None:
        if p.total:
            done = p.completed or 0
            line = f"{p.status} {100 * done // max(p.total, 1):3d}% {human_bytes(done)}/{human_bytes(p.total)}"
            if self.tty:
                self.stream.write("\r" + line)
                self.live = done < p.total
                if not self.live:
                    self.stream.write("\n")
            elif done >= p.total:
                self.stream.write(line + "\n")
        else:
            if self.live:
                self.stream.write("\n")
                self.live = False
            self.stream.write(p.status + "\n")
        self.stream.flush()
