"""Go's ``text/template``, in pure Python, for Ollama's Modelfile ``TEMPLATE``.

The output must be byte-identical to Go's, so this is a close port of Go's own lexer, parser and
executor (``text/template`` and ``text/template/parse``), including their error texts
(``template: :3: unexpected "}" in operand``). Where Go versions differ, we follow the Go that
Ollama builds with (>= 1.23): ``{{else with}}``, ``range`` over an integer, ``break``/``continue``.

Values. Templates see only what the data model offers:

- ``None`` is Go's nil; ``bool``, ``int``, ``float`` (float64), ``str`` and ``bytes`` ([]byte);
- ``list`` is ``[]interface {}`` and ``dict`` is ``map[string]interface {}`` (ranged in sorted key order);
- :class:`GoSlice`, :class:`GoMap` and :class:`GoStruct` subclasses stand for named Go types: they carry
  the Go type name (for error texts), an optional ``String()`` method (``go_string``), and for structs
  the declared field names, the only attributes a template can reach. No other Python attribute or
  method is ever looked up, so a template cannot call into Python.

A template that runs away (a deep ``range`` nesting, a string doubled in a loop) stops with a
TemplateError once its output passes ``max_output`` bytes or it runs ``max_seconds``.
"""

from __future__ import annotations

import copy
import math
import re
import time
import unicodedata
from typing import Any, Callable, ClassVar, Iterable
from urllib.parse import quote_plus

from .errors import TemplateError

MAX_OUTPUT = 16 * 1024 * 1024  # bytes a template may produce (strings built by functions included)
MAX_SECONDS = 2.0
MAX_STEPS = 20_000_000  # nodes walked and functions called; the clock is the usual limit
MAX_TEMPLATE_DEPTH = 100  # nested {{template}} calls (Go allows 100000; Python's stack does not)

# ---------------------------------------------------------------------------------------- values


class GoStruct:
    """A Go struct (``go_pointer``: a pointer to one) that templates may read.

    Subclasses declare ``go_fields`` (the attribute names templates can reach, in Go's field order)
    and ``go_methods`` (Go method name -> Python method name, called with no arguments).
    """

    go_type: ClassVar[str] = "struct"
    go_fields: ClassVar[tuple[str, ...]] = ()
    go_methods: ClassVar[dict[str, str]] = {}
    go_pointer: ClassVar[bool] = False
    go_any_fields: ClassVar[frozenset[str]] = frozenset()  # fields of type interface{} (nil -> Go's nil interface)

    def go_string(self) -> str | None:
        """The value of Go's ``String()`` method, or None when the type has none."""
        return None


class GoSlice(list):
    """A named or typed Go slice. ``is_nil`` tells a nil slice from an empty one."""

    go_type: ClassVar[str] = "[]interface {}"
    go_methods: ClassVar[dict[str, str]] = {}

    def __init__(self, items: Iterable[Any] = (), *, is_nil: bool = False):
        super().__init__(items)
        self.is_nil = is_nil and not self

    def derive(self, items: Iterable[Any]) -> "GoSlice":
        return type(self)(items)

    def go_string(self) -> str | None:
        return None


class GoMap(dict):
    """A named or typed Go map with string keys. ``zero()`` is the value of a missing key."""

    go_type: ClassVar[str] = "map[string]interface {}"
    go_methods: ClassVar[dict[str, str]] = {}
    elem_is_any: ClassVar[bool] = True

    def __init__(self, items: Any = (), *, is_nil: bool = False):
        super().__init__(items)
        self.is_nil = is_nil and not self

    def zero(self) -> Any:
        return NILI if self.elem_is_any else None

    def go_string(self) -> str | None:
        return None


class NilPointer:
    """A typed nil pointer (Go prints it as ``<nil>``; reading a field through it is an error)."""

    def __init__(self, go_type: str, methods: dict[str, Callable[[], Any]] | None = None):
        self.go_type = go_type
        self.methods = methods or {}


class _NilInterface:
    """A nil ``interface{}`` that is still a valid reflect.Value (a missing key, a JSON null).

    Go's executor tells it apart from an invalid value in one place: reading a field through it is
    an error (``nil pointer evaluating interface {}.X``) instead of yielding no value.
    """

    def __repr__(self) -> str:
        return "NILI"


NILI = _NilInterface()
_MISSING = object()  # "no final argument" in a pipeline (Go's missingVal)


def _iface(v: Any) -> Any:
    return None if v is NILI else v


def go_type_name(v: Any) -> str:
    if v is None or v is NILI:
        return "interface {}"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray)):
        return "[]uint8"
    if isinstance(v, (GoSlice, GoMap)):
        return v.go_type
    if isinstance(v, GoStruct):
        return ("*" if v.go_pointer else "") + v.go_type
    if isinstance(v, NilPointer):
        return v.go_type
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def _go_kind(v: Any) -> str:
    if v is None or v is NILI:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, complex):
        return "complex"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (bytes, bytearray, list, tuple)):
        return "slice"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, NilPointer) or (isinstance(v, GoStruct) and v.go_pointer):
        return "ptr"
    return "struct"


def is_true(v: Any) -> tuple[bool, bool]:
    """Go's truth: false, 0, "", nil and empty slices/maps are false; structs are true."""
    if v is None or v is NILI or isinstance(v, NilPointer):
        return False, True
    if isinstance(v, (bool, int, float, complex)):
        return v != 0, True
    if isinstance(v, (str, bytes, bytearray, list, tuple, dict)):
        return len(v) > 0, True
    if isinstance(v, GoStruct):
        return True, True
    return False, False


def _truth(v: Any) -> bool:
    return is_true(_iface(v))[0]


def _method(v: Any, name: str) -> Callable[[], Any] | None:
    """A declared zero-argument method of a data-model value, or None."""
    if isinstance(v, NilPointer):
        return v.methods.get(name)
    methods = getattr(type(v), "go_methods", None) if isinstance(v, (GoStruct, GoSlice, GoMap)) else None
    if methods and name in methods:
        return getattr(v, methods[name])
    return None


# ------------------------------------------------------------------------------------------- fmt
# Go's fmt, for what templates print: the %v of every value, Sprint/Sprintln spacing and Sprintf.


def _float_parts(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of abs(f) and the decimal point position (Go's and Python's agree)."""
    r = repr(abs(f))
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).lstrip("0")
    dp = len(ip) + (int(exp) if exp else 0)
    if not digits:
        return "0", 1
    dp -= len(ip + fp) - len((ip + fp).lstrip("0"))
    return digits.rstrip("0") or "0", dp


def _fmt_e(digits: str, dp: int, prec: int | None, upper: bool = False) -> str:
    exp = dp - 1 if digits != "0" else 0
    if prec is None:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    else:
        mant = digits[0] + ("." + digits[1:].ljust(prec, "0")[:prec] if prec > 0 else "")
    e = ("E" if upper else "e") + ("-" if exp < 0 else "+") + f"{abs(exp):02d}"
    return mant + e


def _fmt_f_short(digits: str, dp: int) -> str:
    if digits == "0":
        return "0"
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def format_float(f: float, verb: str = "g", prec: int | None = None) -> str:
    """strconv.FormatFloat(f, verb, prec, 64) for verbs e E f F g G (prec None = shortest), signed."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if prec is not None and verb in "eE":
        return sign + f"{abs(f):.{prec}{verb}}"
    if prec is not None and verb in "fF":
        return sign + f"{abs(f):.{prec}f}"
    if prec is not None:  # g with a precision: Python's %g rules match Go's
        return sign + f"{abs(f):.{max(prec, 1)}{'G' if verb == 'G' else 'g'}}".replace("INF", "Inf")
    digits, dp = _float_parts(f)
    if verb in "eE":
        return sign + _fmt_e(digits, dp, None, verb == "E")
    if verb in "fF":
        return sign + _fmt_f_short(digits, dp)
    exp = dp - 1
    # %v/%g switch to an exponent outside [1e-4, 1e6) (Go's shortest %g); encoding/json outside [1e-6, 1e21)
    low, high = (-6, 21) if verb == "json" else (-4, 6)
    if digits != "0" and (exp < low or exp >= high):
        return sign + _fmt_e(digits, dp, None, verb == "G")
    return sign + _fmt_f_short(digits, dp)


def _is_print(ch: str) -> bool:
    return ch == " " or (ch.isprintable() and not unicodedata.category(ch).startswith("Z"))


def go_quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote (QuoteToASCII with ascii_only)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # a byte of invalid UTF-8 (kept by surrogateescape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x80 and _is_print(ch):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif not ascii_only and _is_print(ch) and not 0xD800 <= o <= 0xDFFF:
            out.append(ch)
        elif o < 0x10000:
            out.append(f"\\u{0xFFFD if 0xD800 <= o <= 0xDFFF else o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


class _Spec:
    __slots__ = ("minus", "plus", "sharp", "space", "zero", "wid", "prec")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.wid: int | None = None
        self.prec: int | None = None


_PLAIN = _Spec()


def _pad(s: str, spec: _Spec, zero: bool | None = None) -> str:
    if spec.wid is None or len(s) >= spec.wid:
        return s
    n = spec.wid - len(s)
    if spec.minus:
        return s + " " * n
    return ("0" if (spec.zero if zero is None else zero) else " ") * n + s


def _fmt_int(v: int, verb: str, spec: _Spec) -> str | None:
    if verb == "c":
        return _pad(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd", spec)
    if verb == "q":
        return _pad("'" + go_quote(chr(v) if 0 <= v <= 0x10FFFF else "\ufffd")[1:-1].replace("'", "\\'") + "'", spec)
    if verb == "U":
        s = f"U+{v:04X}"
        return _pad(s + (f" '{chr(v)}'" if spec.sharp and _is_print(chr(v)) else ""), spec)
    base = {"v": "d", "d": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}.get(verb)
    if base is None:
        return None
    digits = format(abs(v), base)
    sign = "-" if v < 0 else "+" if spec.plus else " " if spec.space else ""
    prefix = ""
    if verb == "O" or (spec.sharp and base == "o" and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif spec.sharp and base in "xX":
        prefix = "0" + base
    elif spec.sharp and base == "b":
        prefix = "0b"
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and v == 0 else digits.rjust(spec.prec, "0")
    elif spec.zero and spec.wid is not None and not spec.minus:
        digits = digits.rjust(spec.wid - len(sign), "0")
    return _pad(sign + prefix + digits, spec, zero=False)


def _fmt_float_verb(v: float, verb: str, spec: _Spec) -> str | None:
    if verb not in "vgGeEfF":
        return None
    if math.isnan(v) or math.isinf(v):  # never zero-padded; +Inf keeps its sign
        s = "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
        if s[0] != "-" and (spec.plus or spec.space):
            s = ("+" if spec.plus else " ") + s.lstrip("+")
        return _pad(s, spec, zero=False)
    prec = spec.prec
    if verb in "eEfF" and prec is None:
        prec = 6
    num = format_float(v, "g" if verb == "v" else verb, prec)
    sign = "-" if num.startswith("-") else "+" if spec.plus else " " if spec.space else ""
    body = num.lstrip("-")
    if spec.zero and not spec.minus and spec.wid is not None:
        body = body.rjust(spec.wid - len(sign), "0")
    return _pad(sign + body, spec, zero=False)


def _fmt_str(s: str, verb: str, spec: _Spec) -> str | None:
    if verb in "vs":
        return _pad(s if spec.prec is None else s[: spec.prec], spec)
    if verb == "q":
        if spec.prec is not None:
            s = s[: spec.prec]
        if spec.sharp and "`" not in s and all(_is_print(c) or c == "\t" for c in s):
            return _pad("`" + s + "`", spec)
        return _pad(go_quote(s, ascii_only=spec.plus), spec)
    if verb in "xX":
        b = s.encode("utf-8", "surrogateescape")
        if spec.prec is not None:
            b = b[: spec.prec]
        h = b.hex() if verb == "x" else b.hex().upper()
        sep = " " if spec.space else ""
        pre = ("0" + verb) if spec.sharp else ""
        return _pad(sep.join(pre + h[i : i + 2] for i in range(0, len(h), 2)) if sep else pre + h, spec)
    return None


def fmt_value(v: Any, verb: str = "v", spec: _Spec = _PLAIN, depth: int = 0) -> str:
    """Go's fmt formatting of one operand (printArg / printValue)."""
    if v is None or v is NILI:
        if verb == "v":
            return _pad("<nil>", spec)
        return f"%!{verb}(<nil>)"
    if verb in "vsxXq" and isinstance(v, (GoStruct, GoSlice, GoMap)):
        s = v.go_string()  # Go's fmt calls String() for these verbs, at any depth
        if s is not None:
            return _fmt_str(s, verb, spec) or ""
    if isinstance(v, bool):
        return _pad("true" if v else "false", spec) if verb in "tv" else _bad_verb(v, verb, spec)
    if isinstance(v, int):
        out = _fmt_int(v, verb, spec)
        return out if out is not None else _bad_verb(v, verb, spec)
    if isinstance(v, float):
        out = _fmt_float_verb(v, verb, spec)
        return out if out is not None else _bad_verb(v, verb, spec)
    if isinstance(v, complex):
        if verb not in "vgGeEfF":
            return _bad_verb(v, verb, spec)
        sub = _Spec()
        sub.prec = spec.prec
        im = _fmt_float_verb(v.imag, verb, sub) or ""
        return _pad("(" + (_fmt_float_verb(v.real, verb, sub) or "") + (im if im[:1] in "+-" else "+" + im) + "i)", spec)
    if isinstance(v, str):
        out = _fmt_str(v, verb, spec)
        return out if out is not None else _bad_verb(v, verb, spec)
    if isinstance(v, (bytes, bytearray)):
        if verb in "sqxX":
            return _fmt_str(bytes(v).decode("utf-8", "surrogateescape"), verb, spec) or ""
        return "[" + " ".join(fmt_value(b, verb, spec, depth + 1) for b in v) + "]"
    if isinstance(v, NilPointer):
        return _pad("<nil>", spec) if verb == "v" else _bad_verb(v, verb, spec)
    if isinstance(v, GoStruct):
        if v.go_pointer and depth > 0:
            return "0xc000010000"  # Go prints an address here; nothing stable to match
        sep = [":"] if spec.plus and verb == "v" else None
        body = " ".join(
            (f + ":" if sep else "") + fmt_value(_field_value(v, f), verb, spec, depth + 1) for f in v.go_fields
        )
        return ("&" if v.go_pointer else "") + "{" + body + "}"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(
            fmt_value(k, verb, spec, depth + 1) + ":" + fmt_value(x, verb, spec, depth + 1) for k, x in items
        ) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(fmt_value(x, verb, spec, depth + 1) for x in v) + "]"
    return _bad_verb(v, verb, spec)


def _field_value(s: GoStruct, name: str) -> Any:
    v = getattr(s, name)
    return NILI if v is None and name in s.go_any_fields else v


def _sort_key(k: Any) -> tuple[int, Any]:
    # Go's fmtsort: keys of one map share a type; order numbers numerically, strings bytewise.
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (1, k)
    if isinstance(k, str):
        return (2, k)
    return (3, str(k))


def _bad_verb(v: Any, verb: str, spec: _Spec = _PLAIN) -> str:
    # Go prints the operand with %v but keeps the flags, width and precision of the bad verb
    if v is None or v is NILI:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(v)}={fmt_value(v, 'v', spec)})"


def go_sprint(*args: Any) -> str:
    out = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(fmt_value(a))
        prev_string = is_string
    return "".join(out)


def go_sprintln(*args: Any) -> str:
    return " ".join(fmt_value(a) for a in args) + "\n"


_FLAG_CHARS = {"-": "minus", "+": "plus", "#": "sharp", " ": "space", "0": "zero"}


def go_sprintf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf: flags, width, precision, * and [n] argument indexes, and its %!errors."""
    out: list[str] = []
    argnum = 0
    reordered = False
    i, n = 0, len(fmt)

    def arg_index(i: int, argnum: int) -> tuple[int, int, bool]:
        # "[n]" selects argument n (1-based); returns (new argnum, new i, ok)
        if i < n and fmt[i] == "[":
            j = fmt.find("]", i)
            if j < 0 or not fmt[i + 1 : j].isdigit():
                return argnum, (j + 1 if j >= 0 else n), False
            k = int(fmt[i + 1 : j]) - 1
            return k, j + 1, 0 <= k < len(args)
        return argnum, i, True

    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        spec = _Spec()
        while i < n and fmt[i] in _FLAG_CHARS:
            setattr(spec, _FLAG_CHARS[fmt[i]], True)
            i += 1
        good = True
        argnum, i, ok = arg_index(i, argnum)
        reordered = reordered or not ok or (i > 0 and fmt[i - 1] == "]")
        good = good and ok
        if i < n and fmt[i] == "*":
            i += 1
            if argnum < len(args) and isinstance(args[argnum], int) and not isinstance(args[argnum], bool):
                spec.wid = args[argnum]
                if spec.wid < 0:
                    spec.minus, spec.wid = True, -spec.wid
            else:
                out.append("%!(BADWIDTH)")
            argnum += 1
        else:
            m = re.match(r"\d+", fmt[i:])
            if m:
                spec.wid = int(m.group())
                i += m.end()
        if i < n and fmt[i] == ".":
            i += 1
            argnum, i, ok = arg_index(i, argnum)
            good = good and ok
            if i < n and fmt[i] == "*":
                i += 1
                if argnum < len(args) and isinstance(args[argnum], int) and not isinstance(args[argnum], bool):
                    spec.prec = args[argnum] if args[argnum] >= 0 else None
                else:
                    out.append("%!(BADPREC)")
                argnum += 1
            else:
                m = re.match(r"\d+", fmt[i:])
                spec.prec = int(m.group()) if m else 0
                i += m.end() if m else 0
        argnum, i, ok = arg_index(i, argnum)
        good = good and ok
        if max(spec.wid or 0, spec.prec or 0) > MAX_OUTPUT:  # refuse to build a huge padded string
            raise GoFuncError(f"width or precision too large: {max(spec.wid or 0, spec.prec or 0)}")
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if not good:
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if argnum >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        if spec.minus:
            spec.zero = False
        a = args[argnum]
        argnum += 1
        if verb == "T":
            out.append(_pad("<nil>" if a is None else go_type_name(a), spec))
        elif verb == "v" and spec.sharp:
            out.append(fmt_value(a, "v", spec))  # %#v (Go syntax) is not reproduced; plain %v instead
        else:
            out.append(fmt_value(a, verb, spec))
    if not reordered and argnum < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type_name(a)}={fmt_value(a)}" for a in args[argnum:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# ----------------------------------------------------------------------------------------- lexer

(I_ERROR, I_BOOL, I_CHAR, I_CHARCONST, I_COMMENT, I_COMPLEX, I_ASSIGN, I_DECLARE, I_EOF, I_FIELD, I_IDENT,
 I_LDELIM, I_LPAREN, I_NUMBER, I_PIPE, I_RAWSTRING, I_RDELIM, I_RPAREN, I_SPACE, I_STRING, I_TEXT,
 I_VARIABLE, I_KEYWORD, I_BLOCK, I_BREAK, I_CONTINUE, I_DOT, I_DEFINE, I_ELSE, I_END, I_IF, I_NIL, I_RANGE,
 I_TEMPLATE, I_WITH) = range(35)  # fmt: skip

_KEYWORDS = {".": I_DOT, "block": I_BLOCK, "break": I_BREAK, "continue": I_CONTINUE, "define": I_DEFINE,
             "else": I_ELSE, "end": I_END, "if": I_IF, "range": I_RANGE, "nil": I_NIL, "template": I_TEMPLATE,
             "with": I_WITH}  # fmt: skip
_EOF = ""  # what next() returns at the end of input
_SPACE = " \t\r\n"


def _is_space(r: str) -> bool:
    return r != "" and r in _SPACE


def _is_alnum(r: str) -> bool:
    return r != "" and (r == "_" or r.isalpha() or r.isdecimal())


def _fmt_U(r: str) -> str:  # Go's %#U
    return f"U+{ord(r):04X}" + (f" '{r}'" if _is_print(r) else "")


class _Item:
    __slots__ = ("typ", "pos", "val", "line")

    def __init__(self, typ: int, pos: int, val: str, line: int):
        self.typ, self.pos, self.val, self.line = typ, pos, val, line

    def __str__(self) -> str:
        if self.typ == I_EOF:
            return "EOF"
        if self.typ == I_ERROR:
            return self.val
        if self.typ > I_KEYWORD:
            return f"<{self.val}>"
        if len(self.val.encode("utf-8", "surrogatepass")) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


class _Lexer:
    """Go's state-function lexer; it runs to completion and returns the items (Go streams them)."""

    def __init__(self, text: str):
        self.input = text
        self.pos = self.start = 0
        self.line = self.start_line = 1
        self.at_eof = False
        self.paren_depth = 0
        self.items: list[_Item] = []

    def run(self) -> list[_Item]:
        state: Any = self.lex_text
        while state is not None:
            state = state()
        return self.items

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:  # Go never backs up once it has seen EOF
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def emit(self, typ: int) -> None:
        self.items.append(_Item(typ, self.start, self.input[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != "" and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == "" or r not in valid:
                break
        self.backup()

    def errorf(self, msg: str) -> None:
        self.items.append(_Item(I_ERROR, self.start, msg, self.start_line))
        return None

    def _left_trim(self, i: int) -> bool:  # "- " right after "{{"
        return self.input[i : i + 1] == "-" and _is_space(self.input[i + 1 : i + 2])

    def _right_trim(self, i: int) -> bool:  # " -" right before "}}"
        return _is_space(self.input[i : i + 1]) and self.input[i + 1 : i + 2] == "-"

    def at_right_delim(self) -> tuple[bool, bool]:
        if self._right_trim(self.pos) and self.input.startswith("}}", self.pos + 2):
            return True, True
        return self.input.startswith("}}", self.pos), False

    def lex_text(self) -> Any:
        x = self.input.find("{{", self.pos)
        if x >= 0:
            self.pos = x
            trim = 0
            if self._left_trim(x + 2):
                seg = self.input[self.start : self.pos]
                trim = len(seg) - len(seg.rstrip(_SPACE))
            self.pos -= trim
            if self.pos > self.start:
                self.line += self.input.count("\n", self.start, self.pos)
                self.emit(I_TEXT)
            self.pos += trim
            self.ignore()
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(I_TEXT)
        self.emit(I_EOF)
        return None

    def lex_left_delim(self) -> Any:
        self.pos += 2
        after = 2 if self._left_trim(self.pos) else 0
        if self.input.startswith("/*", self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment
        self.emit(I_LDELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> Any:
        self.pos += 2
        i = self.input.find("*/", self.pos)
        if i < 0:
            return self.errorf("unclosed comment")
        self.pos = i + 2
        delim, trim = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        self.pos += (2 if trim else 0) + 2
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> Any:
        trim = self._right_trim(self.pos)
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += 2
        self.emit(I_RDELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> Any:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        r = self.next()
        if r == _EOF:
            return self.errorf("unclosed action")
        if _is_space(r):
            self.backup()  # put the space back in case we have " -}}"
            return self.lex_space
        if r == "=":
            self.emit(I_ASSIGN)
        elif r == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            self.emit(I_DECLARE)
        elif r == "|":
            self.emit(I_PIPE)
        elif r == '"':
            return self.lex_quote
        elif r == "`":
            return self.lex_raw_quote
        elif r == "$":
            return self.lex_variable
        elif r == "'":
            return self.lex_char
        elif r == "." and self.pos < len(self.input) and not "0" <= self.input[self.pos] <= "9":
            return self.lex_field
        elif r in "+-." or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(r):
            self.backup()
            return self.lex_identifier
        elif r == "(":
            self.emit(I_LPAREN)
            self.paren_depth += 1
        elif r == ")":
            self.emit(I_RPAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf(f"unexpected right paren {_fmt_U(r)}")
        elif ord(r) < 0x80 and r.isprintable():
            self.emit(I_CHAR)
        else:
            return self.errorf(f"unrecognized character in action: {_fmt_U(r)}")
        return self.lex_inside_action

    def lex_space(self) -> Any:
        num = 0
        while _is_space(self.peek()):
            self.next()
            num += 1
        # a space right before "-}}" belongs to the trim marker
        if self._right_trim(self.pos - 1) and self.input.startswith("}}", self.pos + 1):
            self.backup()
            if num == 1:
                return self.lex_right_delim
        self.emit(I_SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> Any:
        while True:
            r = self.next()
            if _is_alnum(r):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                return self.errorf(f"bad character {_fmt_U(r)}")
            if _KEYWORDS.get(word, 0) > I_KEYWORD:
                self.emit(_KEYWORDS[word])
            elif word[0] == ".":
                self.emit(I_FIELD)
            elif word in ("true", "false"):
                self.emit(I_BOOL)
            else:
                self.emit(I_IDENT)
            return self.lex_inside_action

    def lex_field(self) -> Any:
        return self._field_or_variable(I_FIELD)

    def lex_variable(self) -> Any:
        if self.at_terminator():  # "$" alone
            self.emit(I_VARIABLE)
            return self.lex_inside_action
        return self._field_or_variable(I_VARIABLE)

    def _field_or_variable(self, typ: int) -> Any:
        if self.at_terminator():  # "." or "$" alone
            self.emit(I_VARIABLE if typ == I_VARIABLE else I_DOT)
            return self.lex_inside_action
        while True:
            r = self.next()
            if not _is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf(f"bad character {_fmt_U(r)}")
        self.emit(typ)
        return self.lex_inside_action

    def at_terminator(self) -> bool:
        r = self.peek()
        if _is_space(r) or r in ("", ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith("}}", self.pos)

    def lex_char(self) -> Any:
        return self._lex_quoted("'", I_CHARCONST, "unterminated character constant")

    def _lex_quoted(self, close: str, item: Any, unterminated: str) -> Any:
        """A quoted literal with backslash escapes, ending at ``close`` on the same line."""
        while True:
            r = self.next()
            if r == "\\":
                if self.next() not in ("", "\n"):
                    continue
                return self.errorf(unterminated)
            if r in ("", "\n"):
                return self.errorf(unterminated)
            if r == close:
                break
        self.emit(item)
        return self.lex_inside_action

    def lex_number(self) -> Any:
        if not self.scan_number():
            return self.errorf(f"bad number syntax: {go_quote(self.input[self.start:self.pos])}")
        sign = self.peek()
        if sign in ("+", "-") and sign != "":
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf(f"bad number syntax: {go_quote(self.input[self.start:self.pos])}")
            self.emit(I_COMPLEX)
        else:
            self.emit(I_NUMBER)
        return self.lex_inside_action

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self) -> Any:
        return self._lex_quoted('"', I_STRING, "unterminated quoted string")

    def lex_raw_quote(self) -> Any:
        while True:
            r = self.next()
            if r == _EOF:
                return self.errorf("unterminated raw quoted string")
            if r == "`":
                break
        self.emit(I_RAWSTRING)
        return self.lex_inside_action


# ----------------------------------------------------------------------------------------- nodes
# Each node's str() is Go's Node.String(): error messages quote it.


class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int):
        self.pos = pos


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int, nodes: list[Node] | None = None):
        super().__init__(pos)
        self.nodes = nodes if nodes is not None else []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str):
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return self.text


class CommentNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str):
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


class PipeNode(Node):
    __slots__ = ("line", "is_assign", "decl", "cmds")

    def __init__(self, pos: int, line: int):
        super().__init__(pos)
        self.line = line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        s = ", ".join(str(v) for v in self.decl) + " := " if self.decl else ""
        return s + " | ".join(str(c) for c in self.cmds)


class ActionNode(Node):
    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, line: int, pipe: PipeNode):
        super().__init__(pos)
        self.line, self.pipe = line, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int):
        super().__init__(pos)
        self.args: list[Node] = []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


class IdentifierNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str):
        super().__init__(pos)
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class VariableNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str):
        super().__init__(pos)
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class DotNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "."


class NilNode(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "nil"


class FieldNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str):
        super().__init__(pos)
        self.ident = ident[1:].split(".")  # drop the leading dot

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    __slots__ = ("node", "field")

    def __init__(self, pos: int, node: Node):
        super().__init__(pos)
        self.node, self.field = node, []

    def __str__(self) -> str:
        s = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return s + "".join("." + f for f in self.field)


class BoolNode(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: bool):
        super().__init__(pos)
        self.value = value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class NumberNode(Node):
    __slots__ = ("text", "is_int", "is_uint", "is_float", "is_complex", "int", "float", "complex")

    def __init__(self, pos: int, text: str):
        super().__init__(pos)
        self.text = text
        self.is_int = self.is_uint = self.is_float = self.is_complex = False
        self.int = 0
        self.float = 0.0
        self.complex = 0j

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, quoted: str, text: str):
        super().__init__(pos)
        self.quoted, self.text = quoted, text

    def __str__(self) -> str:
        return self.quoted


class BranchNode(Node):
    __slots__ = ("line", "pipe", "list", "else_list")
    keyword = ""

    def __init__(self, pos: int, line: int, pipe: PipeNode, lst: ListNode, else_list: ListNode | None):
        super().__init__(pos)
        self.line, self.pipe, self.list, self.else_list = line, pipe, lst, else_list

    def __str__(self) -> str:
        s = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


class IfNode(BranchNode):
    __slots__ = ()
    keyword = "if"


class RangeNode(BranchNode):
    __slots__ = ()
    keyword = "range"


class WithNode(BranchNode):
    __slots__ = ()
    keyword = "with"


class BreakNode(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, line: int):
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{break}}"


class ContinueNode(BreakNode):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{continue}}"


class TemplateNode(Node):
    __slots__ = ("line", "name", "pipe")

    def __init__(self, pos: int, line: int, name: str, pipe: PipeNode | None):
        super().__init__(pos)
        self.line, self.name, self.pipe = line, name, pipe

    def __str__(self) -> str:
        return "{{template " + go_quote(self.name) + (" " + str(self.pipe) if self.pipe else "") + "}}"


class _End(Node):
    __slots__ = ()

    def __str__(self) -> str:
        return "{{end}}"


class _Else(Node):
    __slots__ = ("line",)

    def __init__(self, pos: int, line: int):
        super().__init__(pos)
        self.line = line

    def __str__(self) -> str:
        return "{{else}}"


# ---------------------------------------------------------------------------------------- parser


class _ParseError(Exception):
    pass


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(s: str) -> str:
    """strconv.Unquote for "..." and `...` (raises ValueError("invalid syntax"))."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in "\"`'":
        raise ValueError("invalid syntax")
    q, body = s[0], s[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c == q or (c == "\n"):
            raise ValueError("invalid syntax")
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ValueError("invalid syntax")
        c = body[i]
        i += 1
        if c in _ESCAPES:
            out += _ESCAPES[c].encode()
        elif c == q:
            out += c.encode()
        elif c in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[c]
            h = body[i : i + n]
            if len(h) != n or not all(ch in "0123456789abcdefABCDEF" for ch in h):
                raise ValueError("invalid syntax")
            i += n
            v = int(h, 16)
            if c == "x":
                out.append(v)
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out += chr(v).encode()
        elif c in "01234567":
            o = body[i - 1 : i + 2]
            if len(o) != 3 or not all(ch in "01234567" for ch in o) or int(o, 8) > 255:
                raise ValueError("invalid syntax")
            i += 2
            out.append(int(o, 8))
        else:
            raise ValueError("invalid syntax")
    return bytes(out).decode("utf-8", "surrogateescape")


def _underscore_ok(s: str) -> bool:
    saw, i = "^", 0
    if s[:1] in ("+", "-"):
        s = s[1:]
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1].lower() in "box":
        i, saw, hexa = 2, "0", s[1].lower() == "x"
    for ch in s[i:]:
        if ch.isdigit() or (hexa and ch.lower() in "abcdef"):
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        else:
            if saw == "_":
                return False
            saw = "!"
    return saw != "_"


def _parse_int(text: str, unsigned: bool) -> int | None:
    """strconv.ParseInt / ParseUint with base 0 and 64 bits."""
    s = text
    neg = False
    if s[:1] in ("+", "-"):
        if unsigned:
            return None
        neg, s = s[0] == "-", s[1:]
    if "_" in s and not _underscore_ok(s):
        return None
    t = s.replace("_", "")
    try:
        if len(t) > 1 and t[0] == "0" and t[1] not in "xXoObB":
            v = int(t, 8)
        else:
            v = int(t, 0)
    except ValueError:
        return None
    if neg:
        v = -v
    if unsigned:
        return v if v < 1 << 64 else None
    return v if -(1 << 63) <= v < 1 << 63 else None


def _parse_float(text: str) -> float | None:
    if "_" in text and not _underscore_ok(text):
        return None
    t = text.replace("_", "")
    try:
        if t.lstrip("+-")[:2].lower() == "0x":
            return float.fromhex(t)
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t):
            return None
        return float(t)
    except (ValueError, OverflowError):
        return None


def _new_number(pos: int, text: str, typ: int) -> NumberNode:
    """parse.newNumber: which of int, uint, float and complex the constant can be."""
    n = NumberNode(pos, text)
    if typ == I_CHARCONST:
        try:
            r = _unquote(text)
        except ValueError:
            raise _ParseError("invalid syntax") from None
        if len(r) != 1:
            raise _ParseError(f"malformed character constant: {text}")
        v = ord(r) if not 0xDC80 <= ord(r) <= 0xDCFF else ord(r) - 0xDC00
        n.int, n.is_int, n.is_uint, n.float, n.is_float = v, True, True, float(v), True
        return n
    c = None
    if typ == I_COMPLEX:
        try:
            c = complex(text.replace("_", "").replace("i", "j"))
        except ValueError:
            raise _ParseError(f"illegal number syntax: {go_quote(text)}") from None
    elif text.endswith("i"):
        f = _parse_float(text[:-1])
        c = None if f is None else complex(0, f)
    if c is not None:  # simplifyComplex: a complex with no imaginary part is also a float (maybe an int)
        n.is_complex, n.complex = True, c
        if c.imag == 0:
            n.is_float, n.float = True, c.real
            if c.real.is_integer() and abs(c.real) < 2**63:
                n.is_int, n.int, n.is_uint = True, int(c.real), c.real >= 0
        return n
    u = _parse_int(text, unsigned=True)
    i = _parse_int(text, unsigned=False)
    if u is not None:
        n.is_uint, n.int = True, u
    if i is not None:
        n.is_int, n.int = True, i
        if i == 0:
            n.is_uint = True
    if n.is_int or n.is_uint:
        n.is_float, n.float = True, float(n.int)
    else:
        f = _parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise _ParseError(f"integer overflow: {go_quote(text)}")
            n.is_float, n.float = True, f
            if f.is_integer() and abs(f) < 2**63:
                n.is_int, n.int = True, int(f)
                n.is_uint = f >= 0
    if not (n.is_int or n.is_uint or n.is_float):
        raise _ParseError(f"illegal number syntax: {go_quote(text)}")
    return n


class _Stream:
    def __init__(self, items: list[_Item]):
        self.items, self.i = items, 0

    def next_item(self) -> _Item:
        if self.i < len(self.items):
            self.i += 1
            return self.items[self.i - 1]
        return _Item(I_ERROR, 0, "", 0)  # Go's closed channel yields a zero item


def _is_empty_tree(n: Node | None) -> bool:
    if n is None or isinstance(n, CommentNode):
        return True
    if isinstance(n, ListNode):
        return all(_is_empty_tree(x) for x in n.nodes)
    if isinstance(n, TextNode):
        return not n.text.strip(" \t\n\v\f\r\x85\xa0")
    return False


class _Parser:
    """One template tree (the main one, or a {{define}}), reading the shared item stream."""

    def __init__(self, name: str, stream: _Stream, funcs: Any, tree_set: dict[str, ListNode]):
        self.name, self.stream, self.funcs, self.tree_set = name, stream, funcs, tree_set
        self.token: list[_Item] = [_Item(I_EOF, 0, "", 0)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.root: ListNode | None = None

    # -- the three-token lookahead, exactly as Go's (error lines come from token[0])
    def next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.stream.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1], self.token[2] = t1, t2
        self.peek_count = 3

    def peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.stream.next_item()
        return self.token[0]

    def next_non_space(self) -> _Item:
        while True:
            t = self.next()
            if t.typ != I_SPACE:
                return t

    def peek_non_space(self) -> _Item:
        t = self.next_non_space()
        self.backup()
        return t

    def errorf(self, msg: str) -> None:
        raise _ParseError(f"template: :{self.token[0].line}: {msg}")  # Ollama's template is named ""

    def expect(self, typ: int, context: str) -> _Item:
        t = self.next_non_space()
        if t.typ != typ:
            self.unexpected(t, context)
        return t

    def unexpected(self, t: _Item, context: str) -> None:
        if t.typ == I_ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != t.line:
                extra = f" in action started at :{self.action_line}"
                if t.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf(f"{t}{extra}")
        self.errorf(f"unexpected {t} in {context}")

    # -- grammar
    def parse(self) -> None:
        self.root = ListNode(self.peek().pos)
        while self.peek().typ != I_EOF:
            if self.peek().typ == I_LDELIM:
                delim = self.next()
                if self.next_non_space().typ == I_DEFINE:
                    sub = _Parser("definition", self.stream, self.funcs, self.tree_set)
                    sub.parse_definition()
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)

    def add(self) -> None:
        tree = self.tree_set.get(self.name)
        if tree is None or _is_empty_tree(tree):
            self.tree_set[self.name] = self.root  # type: ignore[assignment]
            return
        if not _is_empty_tree(self.root):
            self.errorf(f"template: multiple definition of template {go_quote(self.name)}")

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.next_non_space()
        if name.typ not in (I_STRING, I_RAWSTRING):
            self.unexpected(name, context)
        try:
            self.name = _unquote(name.val)
        except ValueError as e:
            self.errorf(str(e))
        self.expect(I_RDELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, _End):
            self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != I_EOF:
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                return lst, n
            lst.nodes.append(n)
        self.errorf("unexpected EOF")
        raise AssertionError  # not reached

    def text_or_action(self) -> Node:
        t = self.next_non_space()
        if t.typ == I_TEXT:
            return TextNode(t.pos, t.val)
        if t.typ == I_LDELIM:
            self.action_line = t.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(t, "input")
        raise AssertionError

    def action(self) -> Node:
        t = self.next_non_space()
        if t.typ == I_BLOCK:
            return self.block_control()
        if t.typ in (I_BREAK, I_CONTINUE):
            word = "break" if t.typ == I_BREAK else "continue"
            nt = self.next_non_space()
            if nt.typ != I_RDELIM:
                self.unexpected(nt, "{{" + word + "}}")
            if self.range_depth == 0:
                self.errorf("{{" + word + "}} outside {{range}}")
            return BreakNode(t.pos, t.line) if word == "break" else ContinueNode(t.pos, t.line)
        if t.typ == I_ELSE:
            p = self.peek_non_space()
            if p.typ in (I_IF, I_WITH):  # "else if" / "else with": the keyword stays pending
                return _Else(p.pos, p.line)
            e = self.expect(I_RDELIM, "else")
            return _Else(e.pos, e.line)
        if t.typ == I_END:
            return _End(self.expect(I_RDELIM, "end").pos)
        if t.typ == I_IF:
            return IfNode(*self.parse_control("if"))
        if t.typ == I_RANGE:
            return RangeNode(*self.parse_control("range"))
        if t.typ == I_WITH:
            return WithNode(*self.parse_control("with"))
        if t.typ == I_TEMPLATE:
            return self.template_control()
        self.backup()
        t = self.peek()
        return ActionNode(t.pos, t.line, self.pipeline("command", I_RDELIM))

    def pipeline(self, context: str, end: int) -> PipeNode:
        t = self.peek_non_space()
        pipe = PipeNode(t.pos, t.line)
        while True:  # declarations ("decls:" in Go)
            v = self.peek_non_space()
            if v.typ != I_VARIABLE:
                break
            self.next()
            after = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (I_ASSIGN, I_DECLARE):
                pipe.is_assign = nxt.typ == I_ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
            elif nxt.typ == I_CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (I_VARIABLE, I_RDELIM, I_RPAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            elif after.typ == I_SPACE:
                self.backup3(v, after)
            else:
                self.backup2(v)
            break
        while True:
            t = self.next_non_space()
            if t.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if t.typ in (I_BOOL, I_CHARCONST, I_COMPLEX, I_DOT, I_FIELD, I_IDENT, I_NUMBER, I_NIL, I_RAWSTRING,
                         I_STRING, I_VARIABLE, I_LPAREN):  # fmt: skip
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(t, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        nvars = len(self.vars)
        try:
            pipe = self.pipeline(context, I_RDELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, _Else):
                # "{{if a}}x{{else if b}}y{{end}}" is "{{if a}}x{{else}}{{if b}}y{{end}}{{end}}" (and so for with)
                if context == "if" and self.peek().typ == I_IF:
                    self.next()
                    else_list = ListNode(nxt.pos, [IfNode(*self.parse_control("if"))])
                elif context == "with" and self.peek().typ == I_WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, [WithNode(*self.parse_control("with"))])
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, _End):
                        self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[nvars:]

    def block_control(self) -> Node:
        context = "block clause"
        t = self.next_non_space()
        name = self.template_name(t, context)
        pipe = self.pipeline(context, I_RDELIM)
        block = _Parser(name, self.stream, self.funcs, self.tree_set)
        block.root, end = block.item_list()
        if not isinstance(end, _End):
            self.errorf(f"unexpected {end} in {context}")
        block.add()
        return TemplateNode(t.pos, t.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        t = self.next_non_space()
        name = self.template_name(t, context)
        pipe = None
        if self.next_non_space().typ != I_RDELIM:
            self.backup()
            pipe = self.pipeline(context, I_RDELIM)
        return TemplateNode(t.pos, t.line, name, pipe)

    def template_name(self, t: _Item, context: str) -> str:
        if t.typ in (I_STRING, I_RAWSTRING):
            try:
                return _unquote(t.val)
            except ValueError as e:
                self.errorf(str(e))
        self.unexpected(t, context)
        raise AssertionError

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            t = self.next()
            if t.typ == I_SPACE:
                continue
            if t.typ in (I_RDELIM, I_RPAREN):
                self.backup()
            elif t.typ != I_PIPE:
                self.unexpected(t, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == I_FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == I_FIELD:
                chain.field.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, str(chain))
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, str(chain))
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                self.errorf(f"unexpected . after term {go_quote(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        t = self.next_non_space()
        if t.typ == I_IDENT:
            if t.val not in self.funcs:
                self.errorf(f"function {go_quote(t.val)} not defined")
            return IdentifierNode(t.pos, t.val)
        if t.typ == I_DOT:
            return DotNode(t.pos)
        if t.typ == I_NIL:
            return NilNode(t.pos)
        if t.typ == I_VARIABLE:
            v = VariableNode(t.pos, t.val)
            if v.ident[0] not in self.vars:
                self.errorf(f"undefined variable {go_quote(v.ident[0])}")
            return v
        if t.typ == I_FIELD:
            return FieldNode(t.pos, t.val)
        if t.typ == I_BOOL:
            return BoolNode(t.pos, t.val == "true")
        if t.typ in (I_CHARCONST, I_COMPLEX, I_NUMBER):
            try:
                return _new_number(t.pos, t.val, t.typ)
            except _ParseError as e:
                self.errorf(str(e))
        if t.typ == I_LPAREN:
            return self.pipeline("parenthesized pipeline", I_RPAREN)
        if t.typ in (I_STRING, I_RAWSTRING):
            try:
                return StringNode(t.pos, t.val, _unquote(t.val))
            except ValueError as e:
                self.errorf(str(e))
        self.backup()
        return None


# -------------------------------------------------------------------------------------- builtins


class GoFuncError(Exception):
    """Raised by a template function: the template fails with ``error calling NAME: <message>``."""


class GoFunc:
    """A template function and its Go signature.

    Parameter kinds: "value" (reflect.Value: sees nil interfaces), "any" (interface{}), "string",
    "int", "bool", "float". ``variadic`` is the kind of the trailing ``...`` parameter, if any.
    """

    def __init__(self, fn: Callable[..., Any], params: Iterable[str] = (), variadic: str | None = None):
        self.fn, self.params, self.variadic = fn, tuple(params), variadic


def _index_arg(i: Any, cap: int) -> int:
    i = _iface(i)
    if i is None:
        raise GoFuncError("cannot index slice/array with nil")
    if not isinstance(i, int) or isinstance(i, bool):
        raise GoFuncError(f"cannot index slice/array with type {go_type_name(i)}")
    if i < 0 or i > cap:
        raise GoFuncError(f"index out of range: {i}")
    return i


def _elem(v: Any, is_any: bool = True) -> Any:
    return NILI if v is None and is_any else v


def _deref(v: Any) -> tuple[Any, bool]:
    """Go's indirect(): through pointers and interfaces; (value, is_nil)."""
    if v is NILI or isinstance(v, NilPointer):
        return v, True
    return v, False


def b_index(item: Any, *indexes: Any) -> Any:
    item = _iface(item)
    if item is None:
        raise GoFuncError("index of untyped nil")
    for idx in indexes:
        idx = _iface(idx)
        item, is_nil = _deref(item)
        if is_nil:
            raise GoFuncError("index of nil pointer")
        if isinstance(item, str):
            b = item.encode("utf-8", "surrogateescape")
            x = _index_arg(idx, len(b))
            if x == len(b):
                raise GoFuncError("reflect: string index out of range")
            item = b[x]
        elif isinstance(item, (bytes, bytearray, list, tuple)):
            x = _index_arg(idx, len(item))
            if x == len(item):
                raise GoFuncError("reflect: slice index out of range")
            item = _elem(item[x], not isinstance(item, GoSlice) or item.go_type.endswith("interface {}"))
        elif isinstance(item, dict):
            if idx is None:
                raise GoFuncError("value is nil; should be of type string")
            if not isinstance(idx, str):
                raise GoFuncError(f"value has type {go_type_name(idx)}; should be string")
            if idx in item:
                item = _elem(item[idx], not isinstance(item, GoMap) or item.elem_is_any)
            else:
                item = item.zero() if isinstance(item, GoMap) else NILI
        else:
            raise GoFuncError(f"can't index item of type {go_type_name(item)}")
    return item


def b_slice(item: Any, *indexes: Any) -> Any:
    item = _iface(item)
    if item is None:
        raise GoFuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise GoFuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise GoFuncError("cannot 3-index slice a string")
        seq: Any = item.encode("utf-8", "surrogateescape")
    elif isinstance(item, (bytes, bytearray, list, tuple)):
        seq = item
    else:
        raise GoFuncError(f"can't slice item of type {go_type_name(item)}")
    idx = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(seq))
    if idx[0] > idx[1]:
        raise GoFuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise GoFuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0] : idx[1]]
    if isinstance(item, str):
        return part.decode("utf-8", "surrogateescape")
    return item.derive(part) if isinstance(item, GoSlice) else part


def b_len(item: Any) -> int:
    if item is NILI or isinstance(item, NilPointer):
        raise GoFuncError("len of nil pointer")
    if item is None:
        raise GoFuncError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogateescape"))
    if isinstance(item, (bytes, bytearray, list, tuple, dict)):
        return len(item)
    name = go_type_name(item)
    raise GoFuncError(f"len of type {name[1:] if name.startswith('*') else name}")


_INVALID, _BOOL, _COMPLEX, _INT, _FLOAT, _STRING = range(6)
_BAD_TYPE = "invalid type for comparison"
_BAD_CMP = "incompatible types for comparison"


def _basic_kind(v: Any) -> int:
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, int):
        return _INT
    if isinstance(v, float):
        return _FLOAT
    if isinstance(v, complex):
        return _COMPLEX
    if isinstance(v, str):
        return _STRING
    return _INVALID


def _is_nil(v: Any) -> bool:
    return v is None or v is NILI or isinstance(v, NilPointer) or getattr(v, "is_nil", False)


def b_eq(arg1: Any, *arg2: Any) -> bool:
    arg1 = _iface(arg1)
    if not arg2:
        raise GoFuncError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in arg2:
        arg = _iface(arg)
        k2 = _basic_kind(arg)
        if k1 != k2:
            if arg1 is not None and arg is not None:
                raise GoFuncError(_BAD_CMP)
            truth = False
        elif k1 != _INVALID:
            truth = arg1 == arg
        else:
            ka, kb = _go_kind(arg1), _go_kind(arg)
            if ka != kb and "invalid" not in (ka, kb):
                raise GoFuncError(f"non-comparable types {fmt_value(arg1, 's')}: {go_type_name(arg1)}, "
                                  f"{go_type_name(arg)}: {fmt_value(arg)}")  # fmt: skip
            if _is_nil(arg1) or _is_nil(arg):
                truth = _is_nil(arg1) == _is_nil(arg)
            elif kb != "ptr":  # slices, maps and our structs (they hold slices) are not comparable
                raise GoFuncError(f"non-comparable type {fmt_value(arg, 's')}: {go_type_name(arg)}")
            else:
                truth = arg1 is arg
        if truth:
            return True
    return False


def b_ne(a: Any, b: Any) -> bool:
    return not b_eq(a, b)


def b_lt(a: Any, b: Any) -> bool:
    a, b = _iface(a), _iface(b)
    k1, k2 = _basic_kind(a), _basic_kind(b)
    if k1 == _INVALID or k2 == _INVALID:
        raise GoFuncError(_BAD_TYPE)
    if k1 != k2:
        raise GoFuncError(_BAD_CMP)
    if k1 in (_BOOL, _COMPLEX):
        raise GoFuncError(_BAD_TYPE)
    return a < b


def b_le(a: Any, b: Any) -> bool:
    return b_lt(a, b) or b_eq(a, b)


def b_gt(a: Any, b: Any) -> bool:
    return not b_le(a, b)


def b_ge(a: Any, b: Any) -> bool:
    return not b_lt(a, b)


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(*("<no value>" if a is None else a for a in args))


def b_html(*args: Any) -> str:
    s = _eval_args(args)
    for a, b in (("&", "&amp;"), ("\0", "\ufffd"), ('"', "&#34;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;")):
        s = s.replace(a, b)
    return s


def b_js(*args: Any) -> str:
    out = []
    for ch in _eval_args(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not _is_print(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def b_urlquery(*args: Any) -> str:
    return quote_plus(_eval_args(args).encode("utf-8", "surrogateescape"), safe="-_.~")


def b_call(fn: Any, *args: Any) -> Any:
    fn = _iface(fn)
    if fn is None:
        raise GoFuncError("call of nil")
    raise GoFuncError(f"non-function of type {go_type_name(fn)}")  # data holds no functions


def _unreachable(*_: Any) -> Any:  # and/or are evaluated by the executor (they short-circuit)
    raise AssertionError("and/or are special forms")


FUNCS: dict[str, GoFunc] = {
    "and": GoFunc(_unreachable, ["value"], "value"),
    "or": GoFunc(_unreachable, ["value"], "value"),
    "not": GoFunc(lambda v: not _truth(v), ["value"]),
    "len": GoFunc(b_len, ["value"]),
    "index": GoFunc(b_index, ["value"], "value"),
    "slice": GoFunc(b_slice, ["value"], "value"),
    "eq": GoFunc(b_eq, ["value"], "value"),
    "ne": GoFunc(b_ne, ["value", "value"]),
    "lt": GoFunc(b_lt, ["value", "value"]),
    "le": GoFunc(b_le, ["value", "value"]),
    "gt": GoFunc(b_gt, ["value", "value"]),
    "ge": GoFunc(b_ge, ["value", "value"]),
    "print": GoFunc(go_sprint, [], "any"),
    "printf": GoFunc(go_sprintf, ["string"], "any"),
    "println": GoFunc(go_sprintln, [], "any"),
    "html": GoFunc(b_html, [], "any"),
    "js": GoFunc(b_js, [], "any"),
    "urlquery": GoFunc(b_urlquery, [], "any"),
    "call": GoFunc(b_call, ["value"], "value"),
}
_BUILTIN_IDS = {id(f) for f in FUNCS.values()}
_GO_KIND_NAMES = {"string": "string", "int": "int", "bool": "bool", "float": "float64"}


# -------------------------------------------------------------------------------------- executor


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    pass


class _State:
    def __init__(self, tmpl: "GoTemplate", name: str, missingkey: str, funcs: dict[str, GoFunc],
                 max_output: int, max_seconds: float):  # fmt: skip
        self.tmpl, self.name, self.missingkey, self.funcs = tmpl, name, missingkey, funcs
        self.node: Node | None = None
        self.vars: list[list[Any]] = []  # [name, value, from_any]
        self.dot_any = False  # dot came out of an interface{} slot (its Go static type is interface {})
        self.out: list[str] = []
        self.size = 0
        self.max_output = max_output
        self.steps = 0
        self.deadline = time.monotonic() + max_seconds
        self.depth = 0

    # -- bookkeeping
    def errorf(self, msg: str) -> None:
        if self.node is None:
            raise _ExecError(f"template: {self.name}: {msg}")
        text = self.tmpl.text[: self.node.pos]
        nl = text.rfind("\n")
        col = len(text[nl + 1 :].encode("utf-8", "surrogatepass"))
        loc = f":{text.count(chr(10)) + 1}:{col}"
        raise _ExecError(f"template: {loc}: executing {go_quote(self.name)} at <{self.node}>: {msg}")

    def tick(self) -> None:
        self.steps += 1
        if self.steps & 1023 == 0:
            if self.steps > MAX_STEPS or time.monotonic() > self.deadline:
                self.errorf("template took too long to execute (a runaway loop?)")

    def check_size(self, s: str) -> None:
        n = len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        if n > self.max_output:
            self.errorf(f"output exceeds {self.max_output} bytes")

    def write(self, s: str) -> None:
        self.size += len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))
        if self.size > self.max_output:
            self.errorf(f"output exceeds {self.max_output} bytes")
        self.out.append(s)

    def var_entry(self, name: str) -> list[Any]:
        for v in reversed(self.vars):
            if v[0] == name:
                return v
        self.errorf(f"undefined variable: {name}")
        raise AssertionError

    def set_var(self, name: str, value: Any) -> None:
        for v in reversed(self.vars):
            if v[0] == name:
                v[1], v[2] = value, False
                return
        self.errorf(f"undefined variable: {name}")

    # -- statements
    def walk(self, dot: Any, node: Node) -> None:
        self.tick()
        self.node = node
        if isinstance(node, ActionNode):
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, val)
        elif isinstance(node, TextNode):
            self.write(node.text)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, (IfNode, WithNode)):
            self.walk_if_or_with(isinstance(node, WithNode), dot, node)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, ContinueNode):
            raise _Continue
        elif isinstance(node, BreakNode):
            raise _Break
        elif not isinstance(node, CommentNode):
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            val = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(_iface(val))
            if not ok:
                self.errorf(f"if/with can't use {fmt_value(val)}")
            if truth:
                saved = self.dot_any
                self.dot_any = self.dot_any and not is_with
                try:
                    self.walk(val if is_with else dot, node.list)
                finally:
                    self.dot_any = saved
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, r: RangeNode) -> None:
        self.node = r
        mark = len(self.vars)
        try:
            val = _iface(self.eval_pipeline(dot, r.pipe))
            mark2 = len(self.vars)
            ndecl = len(r.pipe.decl)

            def one(index: Any, elem: Any, elem_any: bool) -> None:
                if ndecl > 0:
                    self.vars[-1][1:] = [elem, elem_any]
                if ndecl > 1:
                    self.vars[-2][1:] = [index, False]
                saved, self.dot_any = self.dot_any, elem_any
                try:
                    self.walk(elem, r.list)
                except _Continue:
                    pass
                finally:
                    del self.vars[mark2:]
                    self.dot_any = saved

            ran = False
            try:
                if isinstance(val, (bytes, bytearray, list, tuple)):
                    is_any = not isinstance(val, (bytes, bytearray)) and (
                        not isinstance(val, GoSlice) or val.go_type.endswith("interface {}")
                    )
                    for i, e in enumerate(val):
                        ran = True
                        one(i, _elem(e, is_any), is_any)
                elif isinstance(val, dict):
                    is_any = not isinstance(val, GoMap) or val.elem_is_any
                    for k in sorted(val, key=_sort_key):
                        ran = True
                        one(k, _elem(val[k], is_any), is_any)
                elif isinstance(val, int) and not isinstance(val, bool):  # Go >= 1.22
                    if ndecl > 1:
                        self.errorf(f"can't use {val} to iterate over more than one variable")
                    for i in range(val):
                        ran = True
                        one(i, i, False)
                elif val is not None:
                    shown = fmt_value(val)
                    self.errorf(f"range can't iterate over {shown[1:] if shown.startswith('&') else shown}")
            except _Break:
                return
            if not ran and r.else_list is not None:
                self.walk(dot, r.else_list)
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: Any, t: TemplateNode) -> None:
        self.node = t
        root = self.tmpl.defined.get(t.name)
        if root is None:
            self.errorf(f"template {go_quote(t.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            self.errorf(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        dot = _iface(self.eval_pipeline(dot, t.pipe))
        saved = (self.vars, self.name, self.dot_any)
        self.vars, self.name, self.dot_any = [["$", dot, False]], t.name, False
        self.depth += 1
        try:
            self.walk(dot, root)  # type: ignore[arg-type]
        finally:
            self.depth -= 1
            self.vars, self.name, self.dot_any = saved

    # -- expressions
    def eval_pipeline(self, dot: Any, pipe: PipeNode | None) -> Any:
        if pipe is None:
            return None
        self.node = pipe
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is NILI:  # an interface{} holding nil is dug out to no value at all
                value = None
        for v in pipe.decl:
            if pipe.is_assign:
                self.set_var(v.ident[0], value)
            else:
                self.vars.append([v.ident[0], value, False])
        return value

    def not_a_function(self, args: list[Node] | None, final: Any) -> None:
        if (args and len(args) > 1) or final is not _MISSING:
            self.errorf(f"can't give argument to non-function {args[0] if args else ''}")

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final, self.dot_any)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return first.text
        self.errorf(f"can't evaluate command {go_quote(str(first))}")

    def ideal_constant(self, c: NumberNode) -> Any:
        self.node = c
        t = c.text
        if c.is_complex:
            return c.complex
        hex_int = len(t) > 2 and t[0] == "0" and t[1] in "xX" and not any(ch in t for ch in "pP")
        if c.is_float and not hex_int and not t.startswith("'") and any(ch in t for ch in ".eEpP"):
            return c.float
        if c.is_int:
            return c.int
        if c.is_uint:
            self.errorf(f"{t} overflows int")
        return None

    def eval_chain(self, dot: Any, chain: ChainNode, args: list[Node] | None, final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        pipe = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.field, args, final)

    def eval_variable(self, dot: Any, v: VariableNode, args: list[Node] | None, final: Any) -> Any:
        self.node = v
        _, value, from_any = self.var_entry(v.ident[0])
        if len(v.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, v, v.ident[1:], args, final, from_any)

    def eval_field_chain(self, dot: Any, receiver: Any, node: Node, ident: list[str], args: list[Node] | None,
                         final: Any, from_any: bool = False) -> Any:  # fmt: skip
        for name in ident[:-1]:
            receiver, from_any = self.eval_field(dot, name, node, None, _MISSING, receiver, from_any)
        return self.eval_field(dot, ident[-1], node, args, final, receiver, from_any)[0]

    def eval_field(self, dot: Any, name: str, node: Node, args: list[Node] | None, final: Any, receiver: Any,
                   from_any: bool) -> tuple[Any, bool]:  # fmt: skip
        """One step of a field chain: (value, whether its Go static type is interface{})."""
        if receiver is None:  # an invalid value: nothing to look into
            if self.missingkey == "error":
                self.errorf(f"nil data; no entry for key {go_quote(name)}")
            return None, False
        typ = "interface {}" if from_any else go_type_name(receiver)
        if receiver is NILI:
            self.errorf(f"nil pointer evaluating {typ}.{name}")
        method = _method(receiver, name)
        if method is not None:
            return self.eval_call(dot, GoFunc(method), node, name, args, final), False
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, GoStruct):
            if name in receiver.go_fields:
                if has_args:
                    self.errorf(f"{name} has arguments but cannot be invoked as function")
                return _field_value(receiver, name), name in receiver.go_any_fields
        elif isinstance(receiver, dict):
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            is_any = not isinstance(receiver, GoMap) or receiver.elem_is_any
            if name in receiver:
                return _elem(receiver[name], is_any), is_any
            if self.missingkey == "zero":
                return (receiver.zero() if isinstance(receiver, GoMap) else NILI), is_any
            if self.missingkey == "error":
                self.errorf(f"map has no entry for key {go_quote(name)}")
            return None, False
        elif isinstance(receiver, NilPointer):
            self.errorf(f"nil pointer evaluating {typ}.{name}")
        self.errorf(f"can't evaluate field {name} in type {typ}")

    def eval_function(self, dot: Any, node: IdentifierNode, cmd: Node, args: list[Node] | None, final: Any) -> Any:
        self.node = node
        fn = self.funcs.get(node.ident)
        if fn is None:
            self.errorf(f"{go_quote(node.ident)} is not a defined function")
        return self.eval_call(dot, fn, cmd, node.ident, args, final)  # type: ignore[arg-type]

    def eval_call(self, dot: Any, fn: GoFunc | Callable[..., Any], node: Node, name: str, args: list[Node] | None,
                  final: Any) -> Any:  # fmt: skip
        self.tick()
        if not isinstance(fn, GoFunc):
            fn = GoFunc(fn, (), "any")  # a plain Python callable: func(args ...interface{})
        args = args[1:] if args else []
        num_in = len(args) + (final is not _MISSING)
        num_fixed = len(fn.params)
        if fn.variadic is not None:
            if num_in < num_fixed:
                self.errorf(f"wrong number of args for {name}: want at least {num_fixed} got {len(args)}")
        elif num_in != num_fixed:
            self.errorf(f"wrong number of args for {name}: want {num_fixed} got {num_in}")
        if name in ("and", "or") and id(fn) in _BUILTIN_IDS:
            v = None
            for a in args:
                v = self.eval_arg(dot, "value", a)
                if _truth(v) == (name == "or"):
                    return v
            if final is not _MISSING:
                v = self.validate(final, "value")
            return v
        argv = [self.eval_arg(dot, fn.params[i], a) for i, a in enumerate(args[:num_fixed])]
        argv += [self.eval_arg(dot, fn.variadic, a) for a in args[num_fixed:]]
        if final is not _MISSING:
            kind = fn.params[-1] if fn.variadic is None else (
                fn.params[num_in - 1] if num_in - 1 < num_fixed else fn.variadic)  # fmt: skip
            argv.append(self.validate(final, kind))
        try:
            result = fn.fn(*argv)
        except GoFuncError as e:
            self.node = node
            self.errorf(f"error calling {name}: {e}")
        if isinstance(result, str):
            self.check_size(result)
        return result

    def validate(self, value: Any, kind: str | None) -> Any:
        """validateType: does the value fit the parameter kind (None: untyped)?"""
        if value is None:
            if kind in (None, "value", "any"):
                return None
            self.errorf(f"invalid value; expected {_GO_KIND_NAMES[kind]}")
        if kind in (None, "value"):
            return value
        if kind == "any":
            return _iface(value)
        ok = {
            "string": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "float": isinstance(value, float),
        }[kind]
        if not ok:
            self.errorf(f"wrong type for value; expected {_GO_KIND_NAMES[kind]}; got {go_type_name(value)}")
        return value

    def eval_arg(self, dot: Any, kind: str | None, n: Node) -> Any:
        self.node = n
        if isinstance(n, DotNode):
            return self.validate(dot, kind)
        if isinstance(n, NilNode):
            if kind in ("value", "any"):
                return None
            self.errorf(f"cannot assign nil to {_GO_KIND_NAMES.get(kind or '', kind)}")
        if isinstance(n, FieldNode):
            return self.validate(self.eval_field_chain(dot, dot, n, n.ident, [n], _MISSING, self.dot_any), kind)
        if isinstance(n, VariableNode):
            return self.validate(self.eval_variable(dot, n, None, _MISSING), kind)
        if isinstance(n, PipeNode):
            return self.validate(self.eval_pipeline(dot, n), kind)
        if isinstance(n, IdentifierNode):
            return self.validate(self.eval_function(dot, n, n, None, _MISSING), kind)
        if isinstance(n, ChainNode):
            return self.validate(self.eval_chain(dot, n, None, _MISSING), kind)
        if kind == "bool":
            if isinstance(n, BoolNode):
                return n.value
            self.errorf(f"expected bool; found {n}")
        if kind == "float":
            if isinstance(n, NumberNode) and n.is_float:
                return n.float
            self.errorf(f"expected float; found {n}")
        if kind == "int":
            if isinstance(n, NumberNode) and n.is_int:
                return n.int
            self.errorf(f"expected integer; found {n}")
        if kind == "string":
            if isinstance(n, StringNode):
                return n.text
            self.errorf(f"expected string; found {n}")
        if isinstance(n, BoolNode):
            return n.value
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return n.text
        self.errorf(f"can't handle assignment of {n} to empty interface argument")

    def print_value(self, node: Node, v: Any) -> None:
        self.node = node
        if v is None:
            self.write("<no value>")
        elif isinstance(v, GoStruct) and v.go_pointer and v.go_string() is None:
            self.write(fmt_value(v, depth=0)[1:])  # a pointer prints as the struct it points to
        else:
            self.write(fmt_value(v))


# ------------------------------------------------------------------------------------ the template


class GoTemplate:
    """A parsed Go template: ``GoTemplate.parse(text).execute(data)``."""

    def __init__(self, text: str, root: ListNode, defined: dict[str, ListNode], funcs: dict[str, GoFunc]):
        self.text = text
        self.root = root
        self.defined = defined  # {{define}}/{{block}} templates by name
        self.funcs = funcs

    @classmethod
    def parse(cls, text: str, funcs: dict[str, GoFunc] | None = None) -> "GoTemplate":
        """Parse ``text``; ``funcs`` adds to (or overrides) the builtins. Raises TemplateError."""
        all_funcs = {**FUNCS, **(funcs or {})}
        tree_set: dict[str, ListNode] = {}
        try:
            items = _Lexer(text).run()
            p = _Parser("", _Stream(items), all_funcs, tree_set)
            p.parse()
            p.add()
        except _ParseError as e:
            raise TemplateError(str(e)) from None
        except RecursionError:
            raise TemplateError("template: nesting too deep") from None
        root = tree_set.get("") or p.root or ListNode(0)
        return cls(text, root, {k: v for k, v in tree_set.items() if k != ""}, all_funcs)

    def execute(
        self,
        data: Any,
        *,
        missingkey: str = "zero",
        funcs: dict[str, GoFunc] | None = None,
        max_output: int = MAX_OUTPUT,
        max_seconds: float = MAX_SECONDS,
    ) -> str:
        """Run the template on ``data``. ``missingkey`` is Go's option: "zero" (Ollama's), "default", "error".

        ``funcs`` replaces the function table for this run (Go looks functions up again at execution).
        """
        st = _State(self, "", missingkey, self.funcs if funcs is None else funcs, max_output, max_seconds)
        st.vars = [["$", data, False]]
        try:
            st.walk(data, self.root)
        except _ExecError as e:
            raise TemplateError(str(e)) from None
        except (_Break, _Continue):  # cannot happen: the parser allows them only inside range
            raise TemplateError("template: break or continue outside range") from None
        except RecursionError:
            raise TemplateError("template: exceeded maximum template depth") from None
        out = "".join(st.out)
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:  # bytes of a string sliced mid-rune: Go writes them raw
            out = out.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return out

    def copy(self) -> "GoTemplate":
        return GoTemplate(self.text, copy.deepcopy(self.root), self.defined, self.funcs)

    def nodes(self) -> Iterable[Node]:
        """Every node of every tree (main and defined), depth first."""
        for root in (self.root, *self.defined.values()):
            yield from walk_nodes(root)

    def fields(self) -> set[str]:
        """The top-level field names the template references anywhere (``.Messages``, ``$.Tools`` ...)."""
        out: set[str] = set()
        for n in self.nodes():
            if isinstance(n, FieldNode):
                out.add(n.ident[0])
            elif isinstance(n, VariableNode) and n.ident[0] == "$" and len(n.ident) > 1:
                out.add(n.ident[1])
        return out


def walk_nodes(n: Node | None) -> Iterable[Node]:
    """Pre-order walk over a tree: lists, branches (pipe, list, else), actions, pipes, commands, chains."""
    if n is None:
        return
    yield n
    if isinstance(n, ListNode):
        for c in n.nodes:
            yield from walk_nodes(c)
    elif isinstance(n, BranchNode):
        yield from walk_nodes(n.pipe)
        yield from walk_nodes(n.list)
        yield from walk_nodes(n.else_list)
    elif isinstance(n, (ActionNode, TemplateNode)):
        yield from walk_nodes(n.pipe)
    elif isinstance(n, PipeNode):
        for v in n.decl:
            yield v
        for c in n.cmds:
            yield from walk_nodes(c)
    elif isinstance(n, CommandNode):
        for a in n.args:
            yield from walk_nodes(a)
    elif isinstance(n, ChainNode):
        yield from walk_nodes(n.node)
