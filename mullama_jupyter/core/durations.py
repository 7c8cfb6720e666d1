"""Durations with Go's syntax and Ollama's ``keep_alive`` semantics.

Holds :func:`parse_go_duration` (Go ``time.ParseDuration``, errors worded as Go words them),
:func:`parse_keep_alive` (Ollama ``api.Duration.UnmarshalJSON``), :func:`format_duration`
(Go ``Duration.String``) and the constants :data:`FOREVER` and :data:`DEFAULT_KEEP_ALIVE`.
All values are float seconds; :data:`FOREVER` is ``math.inf``.
"""

from __future__ import annotations

import math
from decimal import Decimal

from mullama_jupyter.core.errors import InvalidRequest

__all__ = [
    "DEFAULT_KEEP_ALIVE",
    "FOREVER",
    "format_duration",
    "parse_go_duration",
    "parse_keep_alive",
]

FOREVER = math.inf
DEFAULT_KEEP_ALIVE = 300.0  # Ollama's OLLAMA_KEEP_ALIVE default, 5m

# Past this (about 317 years) a finite keep_alive is as good as forever, and treating it as
# forever keeps timer arithmetic (loop.call_later, datetime) far from overflow.
_FOREVER_AFTER = 1e10

_NS = 1
_US = 1_000
_MS = 1_000_000
_S = 1_000_000_000
_UNITS = {
    "ns": _NS,
    "us": _US,
    "\u00b5s": _US,  # micro sign, what Go prints
    "\u03bcs": _US,  # Greek mu, what people type
    "ms": _MS,
    "s": _S,
    "m": 60 * _S,
    "h": 3600 * _S,
}
# Go keeps durations in an int64 of nanoseconds; matching its overflow keeps our accepted
# inputs the same as Ollama's.
_MAX = 1 << 63


def _quote(s: str) -> str:
    """Go's ``time.quote``: double quotes, ``\\"`` and ``\\\\`` escaped, non-ASCII and controls as ``\\xNN``.

    Besides matching Go's text, this keeps CR/LF from a client out of our error messages.
    """
    out = ['"']
    for ch in s:
        if ch < " " or ch >= "\x80":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_digit(ch: str) -> bool:
    # str.isdigit accepts other scripts' digits; Go compares bytes against '0'..'9'.
    return "0" <= ch <= "9"


def _parse_ns(s: str) -> int:
    """Go ``time.ParseDuration`` into integer nanoseconds, following its code step by step."""
    orig = s
    invalid = InvalidRequest(f"time: invalid duration {_quote(orig)}")
    neg = False
    if s and s[0] in "-+":
        neg = s[0] == "-"
        s = s[1:]
    # Go's special case: a bare "0" needs no unit.
    if s == "0":
        return 0
    if not s:
        raise invalid

    total = 0
    i, n = 0, len(s)
    while i < n:
        if not (s[i] == "." or _is_digit(s[i])):
            raise invalid
        start = i
        whole = 0
        while i < n and _is_digit(s[i]):
            whole = whole * 10 + ord(s[i]) - 48
            if whole > _MAX:
                raise invalid
            i += 1
        pre = i != start

        frac, scale, post = 0, 1, False
        if i < n and s[i] == ".":
            i += 1
            start = i
            overflow = False
            while i < n and _is_digit(s[i]):
                # Go stops adding precision once the fraction would overflow but keeps
                # consuming digits, so "1.000…(many)…1s" is valid.
                if not overflow:
                    y = frac * 10 + ord(s[i]) - 48
                    if y > _MAX:
                        overflow = True
                    else:
                        frac, scale = y, scale * 10
                i += 1
            post = i != start
        if not pre and not post:
            raise invalid  # no digits at all, e.g. ".s"

        start = i
        while i < n and not (s[i] == "." or _is_digit(s[i])):
            i += 1
        if i == start:
            raise InvalidRequest(f"time: missing unit in duration {_quote(orig)}")
        unit_text = s[start:i]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise InvalidRequest(f"time: unknown unit {_quote(unit_text)} in duration {_quote(orig)}")

        if whole > _MAX // unit:
            raise invalid
        value = whole * unit
        if frac:
            # Go uses float64 here too ("nanosecond accurate for fractions of hours"); doing the
            # same gives the same nanosecond as Ollama for inputs like "1.1h".
            value += int(float(frac) * (float(unit) / scale))
            if value > _MAX:
                raise invalid
        total += value
        if total > _MAX:
            raise invalid

    if neg:
        return -total
    if total > _MAX - 1:
        raise invalid
    return total


def parse_go_duration(s: str) -> float:
    """Parse a Go duration (``"5m"``, ``"1h30m"``, ``"1.5h"``, ``"-1m"``, ``"0"``) into seconds.

    Raises :class:`InvalidRequest` with Go's own error text, e.g.
    ``time: missing unit in duration "300"``.
    """
    if not isinstance(s, str):
        raise InvalidRequest(f"time: invalid duration {_quote(str(s))}")
    # Integer division by 1e9 in Python is correctly rounded, unlike ns * 1e-9.
    return _parse_ns(s) / _S + 0.0


def _go_type_name(value: object) -> str:
    # What Go's reflect.TypeOf prints for the value json.Unmarshal would have produced.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return type(value).__name__


def _clamp(seconds: float) -> float:
    if seconds < 0 or seconds > _FOREVER_AFTER:
        return FOREVER
    return seconds + 0.0  # turns -0.0 into 0.0


def parse_keep_alive(value: object) -> float | None:
    """Interpret a request's ``keep_alive`` the way Ollama does; seconds, :data:`FOREVER`, or ``None``.

    ``None`` means "not given": the caller applies its default (:data:`DEFAULT_KEEP_ALIVE`).
    A number is seconds, a string a Go duration; anything negative means forever, and 0 means
    unload right after the request.
    """
    if value is None:
        return None
    # bool before int: True is an int in Python, but in JSON it is its own type, which Ollama rejects.
    if isinstance(value, bool):
        raise InvalidRequest(f"Unsupported type: '{_go_type_name(value)}'")
    if isinstance(value, int):
        # Decide on the int itself: float() of a huge JSON integer would overflow.
        if value < 0 or value > _FOREVER_AFTER:
            return FOREVER
        return _clamp(float(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequest(f"invalid keep_alive value: {value!r} is not a finite number")
        return _clamp(value)
    if isinstance(value, str):
        return _clamp(parse_go_duration(value))
    raise InvalidRequest(f"Unsupported type: '{_go_type_name(value)}'")


def parse_keep_alive_setting(value: str) -> float:
    """A keep_alive from configuration (a flag, a traitlet, an environment variable).

    Like Ollama's ``OLLAMA_KEEP_ALIVE``: a Go duration ("5m", "-1m"), or a bare integer taken as
    seconds ("300", "-1"). The request wire stays strict (a bare "300" string there is a 400).
    """
    text = value.strip()
    try:
        seconds = int(text)
    except ValueError:
        result = parse_keep_alive(text)
    else:
        result = parse_keep_alive(seconds)
    return DEFAULT_KEEP_ALIVE if result is None else result


def keep_alive_flag(value: str | None) -> float | str | None:
    """A keep_alive typed on a command line: a bare number is seconds, anything else a duration
    string, sent as such (so the server's own parser judges it)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    # Go's fmtFrac: the fraction digits of v/10**prec without trailing zeros (and no "." if all
    # are zero), plus the integer part.
    whole, frac = divmod(v, 10**prec)
    digits = f"{frac:0{prec}d}".rstrip("0") if prec else ""
    return ("." + digits if digits else ""), whole


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String``: ``"5m0s"``, ``"1h30m0s"``, ``"300ms"``, ``"0s"``.

    The value is first rounded to the nearest nanosecond, Go's resolution. :data:`FOREVER` gives
    ``"forever"``; NaN and minus infinity raise ``ValueError``.
    """
    if seconds == FOREVER:
        return "forever"
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format {seconds!r} as a duration")
    # Decimal(float) is exact, so this is the nanosecond nearest to the float actually held,
    # where seconds * 1e9 would add its own rounding error.
    ns = int(round(Decimal(seconds) * _S))
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u == 0:
        return "0s"
    if u < _S:
        if u < _US:
            unit, prec = "ns", 0
        elif u < _MS:
            unit, prec = "\u00b5s", 3
        else:
            unit, prec = "ms", 6
        frac, whole = _fmt_frac(u, prec)
        return f"{sign}{whole}{frac}{unit}"
    frac, secs = _fmt_frac(u, 9)
    mins, secs = divmod(secs, 60)
    out = f"{secs}{frac}s"
    if mins:
        hours, mins = divmod(mins, 60)
        out = f"{mins}m{out}"
        if hours:
            out = f"{hours}h{out}"
    return sign + out
