"""Modelfiles: Ollama's grammar plus Mullama's directives, typed PARAMETERs, and the text of
``show --modelfile``.

``parse_modelfile`` follows Ollama's rune state machine (``parser/parser.go``) rune for rune:
UTF-8, or UTF-16 after a BOM; instruction names in any letter case; ``#`` comment lines; a value
runs to the end of its line, is trimmed, then unquoted (``\"\"\"…\"\"\"`` or ``"…"``, no escapes) and goes
on across lines while it opens a quote it has not closed; ``\\r`` ends a line like ``\\n``; other
non-printable runes are dropped. Errors keep Ollama's texts (``(line N): …`` counts every ``\\r`` and
``\\n`` read, the offending one included, so a CRLF file counts each line twice, as upstream does).

Mullama's directives (GPU_LAYERS, FLASH_ATTENTION, VISION_PROJECTOR/MMPROJ, DIGEST, THINKING,
TOOLFORMAT, CAPABILITY, AUTHOR) are read by the same machine and their values checked as they are
read. Deviations from upstream, each on purpose:

- Instruction names may contain ``_`` (upstream: letters only) so that ``GPU_LAYERS`` can be lexed,
  and the "command must be one of" list names Mullama's directives after Ollama's eleven.
- Commands are ``(name, args)`` with PARAMETER as ``("parameter", (key, value))`` and FROM as
  ``"from"``; upstream folds a parameter's key into the command name, so ``PARAMETER template x``
  there turns into a TEMPLATE. Parsing is otherwise identical, quirks included: ``PARAMETER  k v``
  (two spaces) is a parameter named ``""`` whose value is ``"k v"`` (rejected by ``format_params``).
- Errors that upstream gives without a line (``unexpected EOF``, ``no FROM line``) keep their exact
  text; the line is in ``ModelfileError.line`` and in the hint, never in the message.
- THINKING, TOOLFORMAT and CAPABILITY take ``key value`` like PARAMETER; extra blanks before the
  key are skipped and the key is lower-cased (as Mullama does). MMPROJ is stored as
  ``vision_projector`` and DIGEST as ``sha256:<lower-case hex>``. Errors in these directives read
  ``(line N): <DIRECTIVE> …`` with N the line the directive starts on.
- ``quote`` also wraps values with a ``\\r``, with any edge whitespace, or starting with ``"``, and
  FROM goes through it too (upstream never quotes FROM): unchanged for every ordinary value, and
  it lets those values survive ``to_text`` → ``parse_modelfile``. A value holding a line that ends
  in ``\"\"\"`` (or a non-printable rune) cannot be written in this grammar at all: ``can_round_trip``.
- ``format_params`` types each value of a repeated key and keeps the last (what Ollama's
  ``CreateRequest`` does line by line); upstream's ``FormatParams`` alone looks at the first only.
  Its key list is this project's ``options.SPECS`` (so ``numa`` is known and ``draft_num_predict``
  is not), and the typed values then go through ``options.validate_options`` (ranges → 400).
"""

from __future__ import annotations

import codecs
import difflib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .errors import InvalidOption, InvalidRequest
from .options import BOOL, FLOAT, INT, SPECS, STRINGS, validate_options

if TYPE_CHECKING:
    from .store import ModelRecord

log = logging.getLogger(__name__)

__all__ = [
    "Command",
    "DEPRECATED_PARAMETERS",
    "Modelfile",
    "ModelfileError",
    "can_round_trip",
    "format_params",
    "parse_modelfile",
    "quote",
    "settings_commands",
    "to_modelfile",
]


class ModelfileError(InvalidRequest):
    """A Modelfile that does not parse. ``line`` is the line named by the message (upstream's count),
    or, for texts upstream gives without one, the line the broken instruction starts on."""

    def __init__(self, message: str, *, line: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.line = line


# ---------------------------------------------------------------------------------------------
# Vocabulary

OLLAMA_COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
                   "parameter", "message", "requires")
MULLAMA_COMMANDS = ("gpu_layers", "flash_attention", "vision_projector", "mmproj", "digest", "thinking",
                    "toolformat", "capability", "author")
_COMMANDS = frozenset(OLLAMA_COMMANDS + MULLAMA_COMMANDS)
_ALIASES = {"mmproj": "vision_projector"}
# Commands whose args are (key, value); every other command has (value,).
_KEYED = frozenset({"parameter", "message", "thinking", "toolformat", "capability"})
ROLES = ("system", "user", "assistant")
THINKING_KEYS = ("start", "end", "enabled")
TOOLFORMAT_KEYS = ("style", "call_start", "call_end", "result_start", "result_end")
CAPABILITY_KEYS = ("json", "tools", "thinking", "vision")
_KEYS = {"thinking": THINKING_KEYS, "toolformat": TOOLFORMAT_KEYS, "capability": CAPABILITY_KEYS}

# ``show`` order (ollama-api.md §1.7), then the rest of Ollama's, then Mullama's.
ORDER = ("from", "adapter", "draft", "template", "system", "renderer", "parser", "parameter", "license",
         "message", "requires", "gpu_layers", "flash_attention", "vision_projector", "digest", "thinking",
         "toolformat", "capability", "author")
_RANK = {name: i for i, name in enumerate(ORDER)}

# Skipped with a warning when a Modelfile is turned into create parameters (parser.go).
DEPRECATED_PARAMETERS = ("penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
                         "mirostat", "mirostat_tau", "mirostat_eta")


def _one_of(words: Iterable[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return ", ".join(quoted[:-1]) + f", or {quoted[-1]}"


_INVALID_COMMAND = "command must be one of " + _one_of(OLLAMA_COMMANDS + MULLAMA_COMMANDS)
_INVALID_ROLE = "message role must be one of " + _one_of(ROLES)
_EOF = "unexpected EOF"
_NO_FROM = "no FROM line"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOOL_WORDS = "true or false (or 1/0, yes/no, on/off)"
_DIGEST = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_I32 = re.compile(r"[+-]?[0-9]+")

_WS = frozenset(" \t\r\n")
_BLANK = frozenset(" \t")
_NL = frozenset("\r\n")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_CHARS = _LETTERS | {"_"}
_KEY_CHARS = _LETTERS | frozenset("0123456789_")


# ---------------------------------------------------------------------------------------------
# Commands and the parsed file


@dataclass(frozen=True)
class Command:
    """One instruction: ``name`` in lower case (``"from"``, ``"parameter"``, ``"gpu_layers"``, …) and
    ``args``: ``(key, value)`` for PARAMETER (name, value), MESSAGE (role, content), THINKING,
    TOOLFORMAT and CAPABILITY; ``(value,)`` for the rest. ``line`` is where it starts (not compared)."""

    name: str
    args: tuple[str, ...]
    line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        name = _ALIASES.get(self.name.lower(), self.name.lower()) if isinstance(self.name, str) else self.name
        if name not in _COMMANDS:
            raise ValueError(f"unknown Modelfile command {self.name!r}")
        args = tuple(self.args)
        if len(args) != (2 if name in _KEYED else 1) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"{name.upper()} takes {'a key and a value' if name in _KEYED else 'one value'}, "
                             f"got {self.args!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "args", args)

    @property
    def key(self) -> str | None:
        return self.args[0] if len(self.args) == 2 else None

    @property
    def value(self) -> str:
        return self.args[-1]

    def to_text(self) -> str:
        """The line (without its newline), as Ollama's ``Command.String`` writes it."""
        if self.name in _KEYED:
            return f"{self.name.upper()} {self.args[0]} {quote(self.args[1])}"
        return f"{self.name.upper()} {quote(self.args[0])}"


@dataclass
class Modelfile:
    """A parsed Modelfile: the commands in file order, and what they add up to."""

    commands: list[Command] = field(default_factory=list)

    # -- helpers
    def _all(self, name: str) -> list[Command]:
        return [c for c in self.commands if c.name == name]

    def _last(self, name: str) -> str | None:
        found = self._all(name)
        return found[-1].value if found else None

    def _keyed(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in self._all(name):
            out[c.args[0]] = c.args[1]
        return out

    # -- Ollama's instructions
    @property
    def from_(self) -> str:
        """The first FROM (the model; upstream's ``show`` writes a projector as a second FROM)."""
        froms = self.froms
        return froms[0] if froms else ""

    @property
    def froms(self) -> list[str]:
        return [c.value for c in self._all("from")]

    @property
    def parameters(self) -> dict[str, list[str]]:
        """Raw PARAMETER values by name, in order; a repeated name accumulates."""
        out: dict[str, list[str]] = {}
        for c in self._all("parameter"):
            out.setdefault(c.args[0], []).append(c.args[1])
        return out

    @property
    def template(self) -> str | None:
        return self._last("template")

    @property
    def system(self) -> str | None:
        return self._last("system")

    @property
    def license(self) -> list[str]:
        return [c.value for c in self._all("license")]

    @property
    def messages(self) -> list[dict[str, str]]:
        return [{"role": c.args[0], "content": c.args[1]} for c in self._all("message")]

    @property
    def adapters(self) -> list[str]:
        return [c.value for c in self._all("adapter")]

    @property
    def requires(self) -> str | None:
        return self._last("requires")

    @property
    def renderer(self) -> str | None:
        return self._last("renderer")

    @property
    def parser(self) -> str | None:
        return self._last("parser")

    @property
    def draft(self) -> str | None:
        return self._last("draft")

    # -- Mullama's directives (each single-valued one: the last wins)
    @property
    def gpu_layers(self) -> int | None:
        found = self._all("gpu_layers")
        return _check_single(found[-1]) if found else None

    @property
    def flash_attention(self) -> bool | None:
        found = self._all("flash_attention")
        return _check_single(found[-1]) if found else None

    @property
    def vision_projector(self) -> str | None:
        return self._last("vision_projector")

    @property
    def digest(self) -> str | None:
        found = self._all("digest")
        return _check_single(found[-1]) if found else None

    @property
    def author(self) -> str | None:
        return self._last("author")

    @property
    def thinking(self) -> dict[str, Any]:
        """The THINKING keys given: ``start`` and ``end`` (str), ``enabled`` (bool)."""
        out: dict[str, Any] = {}
        for c in self._all("thinking"):
            out[c.args[0]] = _check_keyed(c)
        return out

    @property
    def toolformat(self) -> dict[str, str]:
        return self._keyed("toolformat")

    @property
    def capabilities(self) -> dict[str, bool]:
        return {c.args[0]: _check_keyed(c) for c in self._all("capability")}

    @property
    def settings(self) -> dict[str, Any]:
        """Mullama's directives that are set, typed: the ``"mullama"`` object of a create request."""
        out: dict[str, Any] = {}
        for key in ("gpu_layers", "flash_attention", "vision_projector", "digest"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("thinking", "toolformat", "capabilities"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.author is not None:
            out["author"] = self.author
        return out

    def options(self) -> dict[str, Any]:
        """The PARAMETERs typed as ``format_params`` types them, one line at a time (so an error's
        hint names its line), deprecated ones skipped with a warning."""
        out: dict[str, Any] = {}
        lines: dict[str, int | None] = {}
        for c in self._all("parameter"):
            key, value = c.args
            try:
                _add_param(out, key, [value])
            except InvalidOption as e:
                raise _at_line(e, c.line) from None
            lines[key] = c.line
        try:
            return validate_options(out)
        except InvalidOption as e:
            raise _at_line(e, lines.get(e.option)) from None

    # -- writing
    def sorted(self) -> Modelfile:
        """The same commands in ``show`` order (stable, so the last TEMPLATE still wins)."""
        return Modelfile(sorted(self.commands, key=lambda c: _RANK.get(c.name, len(ORDER))))

    def to_text(self, *, keep_order: bool = False) -> str:
        """The Modelfile text, one command a line; ``show`` order unless ``keep_order``.

        ``parse_modelfile(mf.to_text()).commands == mf.sorted().commands`` whenever every value
        passes ``can_round_trip`` (and keys are ones the grammar can read)."""
        commands = self.commands if keep_order else self.sorted().commands
        return "".join(c.to_text() + "\n" for c in commands)


def _at_line(e: InvalidOption, line: int | None) -> InvalidOption:
    if line is None:
        return e
    hint = f"PARAMETER on line {line}" + (f": {e.hint}" if e.hint else "")
    return InvalidOption(e.option, e.message, hint=hint)


# ---------------------------------------------------------------------------------------------
# Quoting


def quote(s: str) -> str:
    """Ollama's ``quote``: a value that would not survive being read back bare is wrapped, in
    ``\"\"\"…\"\"\"`` when it holds a ``"`` and in ``"…"`` otherwise; every other value is left as is.

    Upstream wraps on a newline or an edge space; this also wraps on ``\\r``, any edge whitespace
    and a leading ``"`` (each of which the parser would otherwise change)."""
    if "\n" in s or "\r" in s or s != s.strip() or s.startswith('"'):
        return f'"""{s}"""' if '"' in s else f'"{s}"'
    return s


def _unquote(s: str) -> tuple[str, bool]:
    if s.startswith('"""'):
        if len(s) >= 6 and s.endswith('"""'):
            return s[3:-3], True
        return "", False
    if s.startswith('"'):
        if len(s) >= 2 and s.endswith('"'):
            return s[1:-1], True
        return "", False
    return s, True


def _printable(ch: str) -> bool:
    # Python's str.isprintable and Go's strconv.IsPrint draw the same line: letters, marks,
    # numbers, punctuation, symbols and the ASCII space.
    return ch.isprintable()


def can_round_trip(value: str) -> bool:
    """Whether ``value`` reads back unchanged after ``quote``: every rune printable (or a space,
    tab or line break), and, when it needs ``\"\"\"…\"\"\"``, no line of it ends in ``\"\"\"``
    (there are no escapes, so the reader would stop there)."""
    if not all(ch in _WS or _printable(ch) for ch in value):
        return False
    q = quote(value)
    if not q.startswith('"""'):
        return True
    for i, ch in enumerate(value):
        if ch in _NL and value[:i].rstrip(" \t\r\n").endswith('"""'):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Parsing

_NIL, _NAME, _VALUE, _PARAM, _ROLE, _KEY, _COMMENT = range(7)


def _go_replace(e: UnicodeError) -> tuple[str, int]:
    # Go's UTF-8 decoder turns each bad byte into its own U+FFFD.
    if not isinstance(e, UnicodeDecodeError):
        raise e
    return "\ufffd" * (e.end - e.start), e.end


codecs.register_error("mullama.modelfile", _go_replace)


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "mullama.modelfile")
    if data.startswith(codecs.BOM_UTF16_LE):
        return data[2:].decode("utf-16-le", "replace")
    if data.startswith(codecs.BOM_UTF16_BE):
        return data[2:].decode("utf-16-be", "replace")
    return data.decode("utf-8", "mullama.modelfile")


def _show(value: str) -> str:
    return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'


class _Parser:
    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.line = 1  # upstream's count: 1 + every \r and \n read so far
        self.state = _NIL
        self.buf: list[str] = []
        # Indexes of the first and last non-blank rune of a value, so that "is the quote closed"
        # costs O(1) per line break instead of a copy of the whole value.
        self.first = -1
        self.last = -1
        self.word = ""  # the instruction as written
        self.name = ""  # its command name
        self.key = ""  # parameter name, message role, or directive key
        self.start = 1  # the line the instruction starts on
        # Where upstream, which allows letters only, would have stopped at a "_" in the name: an
        # invalid name with one is reported there, so upstream's errors stay exact.
        self.underscore: int | None = None

    # -- buffer
    def _reset(self) -> None:
        self.buf = []
        self.first = self.last = -1

    def _push(self, ch: str) -> None:
        if ch not in _WS:
            if self.first < 0:
                self.first = len(self.buf)
            self.last = len(self.buf)
        self.buf.append(ch)

    def _stripped(self) -> str:
        return "" if self.first < 0 else "".join(self.buf[self.first:self.last + 1])

    def _closed(self) -> bool:
        if self.first < 0:
            return True
        b, i, j = self.buf, self.first, self.last
        n = j - i + 1
        if n >= 3 and b[i] == b[i + 1] == b[i + 2] == '"':
            return n >= 6 and b[j] == b[j - 1] == b[j - 2] == '"'
        if b[i] == '"':
            return n >= 2 and b[j] == '"'
        return True

    # -- errors
    def _error(self, message: str, hint: str, line: int) -> ModelfileError:
        return ModelfileError(message, line=line, hint=hint)

    def _at(self, msg: str, hint: str, line: int | None = None) -> ModelfileError:
        n = self.line if line is None else line
        return ModelfileError(f"(line {n}): {msg}", line=n, hint=hint)

    def _bad_command(self, ch: str | None) -> ModelfileError:
        word = "".join(self.buf)
        low = word.lower()
        line = self.underscore if self.underscore is not None and low not in _COMMANDS else None
        if low in _COMMANDS:
            if ch is None or ch in _NL:
                hint = f"{word.upper()} needs a value after a space, on the same line"
            else:
                hint = f"put a space between {word.upper()} and its value"
        elif low in SPECS:
            hint = f'"{word}" is an option: write PARAMETER {word} <value>'
        else:
            close = difflib.get_close_matches(low, sorted(_COMMANDS), n=1)
            hint = f'"{word}" is not an instruction' + (f"; did you mean {close[0].upper()}?" if close else "")
            hint += "; a comment line starts with #"
        return self._at(_INVALID_COMMAND, hint, line=line)

    # -- the machine
    def run(self, text: str) -> Modelfile:
        for ch in text:
            if ch in _NL:
                self.line += 1
            self._step(ch)
        self._finish()
        if not any(c.name == "from" for c in self.commands):
            raise ModelfileError(_NO_FROM, hint="add a FROM line naming the base model or a GGUF file, "
                                                "e.g. FROM llama3.2")
        return Modelfile(self.commands)

    def _step(self, ch: str) -> None:
        state = self.state
        if state == _VALUE:
            if ch in _WS:
                if ch in _NL and self._closed():
                    self._emit()
                    self.state = _NIL
                    self._reset()
                else:  # blanks are kept, and so are line breaks inside an open quote
                    self._push(ch)
            elif _printable(ch):
                self._push(ch)
        elif state == _NIL:
            if ch == "#":
                self.state = _COMMENT
            elif ch not in _WS:
                self.state = _NAME
                self.start = self.line
                self.underscore = None
                self._reset()
                if _printable(ch):
                    self.buf.append(ch)
        elif state == _COMMENT:
            if ch in _NL:
                self.state = _NIL
        elif state == _NAME:
            if ch in _NAME_CHARS:
                if ch == "_" and self.underscore is None:
                    self.underscore = self.line
                self.buf.append(ch)
            elif ch in _BLANK:
                self._end_name()
            else:
                raise self._bad_command(ch)
        elif state == _PARAM:
            if ch in _KEY_CHARS:
                self.buf.append(ch)
            elif ch in _BLANK:
                self.key = "".join(self.buf)
                self.state = _VALUE
                self._reset()
            else:
                raise self._error(f"{_EOF}: {''.join(self.buf)}",
                                  f"PARAMETER on line {self.start} needs a name ([A-Za-z0-9_]) and a value, "
                                  "e.g. PARAMETER temperature 0.7", line=self.start)
        elif state == _ROLE:
            if ch in _LETTERS:
                self.buf.append(ch)
            elif ch in _BLANK:
                role = "".join(self.buf)
                if role not in ROLES:
                    raise self._at(_INVALID_ROLE, self._role_hint(role))
                self.key = role
                self.state = _VALUE
                self._reset()
            else:
                raise self._error(f"{_EOF}: {''.join(self.buf)}",
                                  f"MESSAGE on line {self.start} needs a role and a text, e.g. MESSAGE user Hello",
                                  line=self.start)
        elif state == _KEY:
            if ch in _KEY_CHARS:
                self.buf.append(ch)
            elif ch in _BLANK:
                if self.buf:  # blanks before the key are skipped
                    key = "".join(self.buf).lower()
                    if key not in _KEYS[self.name]:
                        raise self._key_error(key)
                    self.key = key
                    self.state = _VALUE
                    self._reset()
            elif ch in _NL:
                raise self._missing_key()
            else:
                raise self._key_error("".join(self.buf) + ch)

    def _role_hint(self, role: str) -> str:
        if role.lower() in ROLES:
            return f"roles are lower case: MESSAGE {role.lower()} …"
        return f'"{role}" is not a role; write MESSAGE system|user|assistant <text>'

    def _end_name(self) -> None:
        word = "".join(self.buf)
        low = word.lower()
        if low not in _COMMANDS:
            raise self._bad_command(" ")
        self.word = word.upper()
        self.name = _ALIASES.get(low, low)
        self.key = ""
        self.state = {"parameter": _PARAM, "message": _ROLE}.get(low, _KEY if low in _KEYS else _VALUE)
        self._reset()

    def _missing_key(self) -> ModelfileError:
        keys = _KEYS[self.name]
        return self._at(f"{self.word} needs a key and a value",
                        f"{self.word} takes one of {', '.join(keys)}, then a value, e.g. {_EXAMPLES[self.name]}",
                        line=self.start)

    def _key_error(self, key: str) -> ModelfileError:
        keys = _KEYS[self.name]
        what = f"{self.word} must be one of" if self.name == "capability" else f"{self.word} key must be one of"
        return self._at(f"{what} {_one_of(keys)}, not {_show(key)}", f"e.g. {_EXAMPLES[self.name]}",
                        line=self.start)

    def _emit(self) -> None:
        value, _ = _unquote(self._stripped())
        name = self.name
        args: tuple[str, ...] = (self.key, value) if name in _KEYED else (value,)
        cmd = Command(name, args, line=self.start)
        try:
            if name in _KEYS:
                _check_keyed(cmd)
            elif name in _SINGLE_CHECKS:
                normal = _check_single(cmd)
                if name == "digest":
                    cmd = Command(name, (normal,), line=self.start)
        except ModelfileError as e:
            # Same text, with this file's spelling of the directive (MMPROJ) where it differs.
            if self.word != name.upper():
                e = ModelfileError(e.message.replace(name.upper(), self.word, 1), line=e.line,
                                   hint=e.hint)
            raise e from None
        self.commands.append(cmd)

    def _finish(self) -> None:
        state = self.state
        if state == _VALUE:
            if not self._closed():
                mark = '"""' if self._stripped().startswith('"""') else '"'
                raise self._error(_EOF, f"the quoted {self.word} value on line {self.start} never ends; "
                                        f"close it with {mark}", line=self.start)
            self._emit()
        elif state == _NAME:
            word = "".join(self.buf)
            if self.underscore is not None and word.lower() not in _COMMANDS:
                raise self._bad_command(None)
            hint = (f"{word.upper()} needs a value after a space" if word.lower() in _COMMANDS
                    else f'"{word}" is not an instruction')
            raise self._error(_EOF, f"line {self.start}: {hint}", line=self.start)
        elif state == _PARAM:
            raise self._error(_EOF, f"PARAMETER on line {self.start} needs a name and a value, "
                                    "e.g. PARAMETER temperature 0.7", line=self.start)
        elif state == _ROLE:
            raise self._error(_EOF, f"MESSAGE on line {self.start} needs a role and a text, "
                                    "e.g. MESSAGE user Hello", line=self.start)
        elif state == _KEY:
            raise self._missing_key()


_EXAMPLES = {
    "thinking": 'THINKING start "<think>", THINKING end "</think>", THINKING enabled true',
    "toolformat": "TOOLFORMAT style qwen, TOOLFORMAT call_start <tool_call>",
    "capability": "CAPABILITY tools true",
}


def _bool(text: str) -> bool | None:
    low = text.lower()
    return True if low in _TRUE else False if low in _FALSE else None


def _check_single(cmd: Command) -> Any:
    """Type (and check) the value of a single-valued Mullama directive."""
    name, value, word = cmd.name, cmd.value, cmd.name.upper()
    line = cmd.line

    def bad(msg: str, hint: str) -> ModelfileError:
        return ModelfileError(f"(line {line}): {msg}" if line is not None else msg, line=line, hint=hint)

    if name == "gpu_layers":
        if _I32.fullmatch(value) and len(value.lstrip("+-").lstrip("0")) <= 10 and \
                -(1 << 31) <= int(value) < (1 << 31):
            return int(value)
        raise bad(f"{word} must be an integer, not {_show(value)}",
                  "GPU_LAYERS takes the number of layers to offload, e.g. GPU_LAYERS 32 (0 keeps the model on the CPU)")
    if name == "flash_attention":
        b = _bool(value)
        if b is None:
            raise bad(f"{word} must be {_BOOL_WORDS}, not {_show(value)}", "e.g. FLASH_ATTENTION true")
        return b
    if name == "vision_projector":
        if not value:
            raise bad(f"{word} needs a path", "e.g. VISION_PROJECTOR ./mmproj-model-f16.gguf")
        return value
    if name == "digest":
        m = _DIGEST.fullmatch(value)
        if m is None:
            raise bad(f"{word} must be sha256:<64 hex digits> or <64 hex digits>, not {_show(value)}",
                      "the sha256 of the GGUF that FROM names, e.g. DIGEST sha256:<64 hex digits>")
        return "sha256:" + m.group(1).lower()
    return value


_SINGLE_CHECKS = frozenset({"gpu_layers", "flash_attention", "vision_projector", "digest"})


def _check_keyed(cmd: Command) -> Any:
    """Type (and check) the value of THINKING, TOOLFORMAT or CAPABILITY."""
    name, (key, value), word, line = cmd.name, cmd.args, cmd.name.upper(), cmd.line
    prefix = f"(line {line}): " if line is not None else ""
    keys = _KEYS[name]
    if key not in keys:
        what = f"{word} must be one of" if name == "capability" else f"{word} key must be one of"
        raise ModelfileError(f"{prefix}{what} {_one_of(keys)}, not {_show(key)}", line=line,
                             hint=f"e.g. {_EXAMPLES[name]}")
    if name == "capability" or (name == "thinking" and key == "enabled"):
        b = _bool(value)
        if b is None:
            raise ModelfileError(f"{prefix}{word} {key} must be {_BOOL_WORDS}, not {_show(value)}", line=line,
                                 hint=f"e.g. {word} {key} true")
        return b
    return value


def parse_modelfile(text: str | bytes) -> Modelfile:
    """Parse a Modelfile (``bytes``: UTF-8, or UTF-16 with a BOM). Raises ``ModelfileError``."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = _decode(bytes(text))
    elif not isinstance(text, str):
        raise TypeError(f"a Modelfile is str or bytes, not {type(text).__name__}")
    elif text.startswith("\ufeff"):  # what a UTF-8 BOM decodes to
        text = text[1:]
    return _Parser().run(text)


# ---------------------------------------------------------------------------------------------
# PARAMETER typing (Ollama's api.FormatParams)

_GO_DEC = re.compile(r"[+-]?([0-9_]*)(?:\.([0-9_]*))?(?:[eE]([+-]?[0-9][0-9_]*))?")
_GO_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]*)(?:\.([0-9a-fA-F_]*))?[pP]([+-]?[0-9][0-9_]*)")
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT64 = (-(1 << 63), (1 << 63) - 1)
_MAX_DIGITS = 800  # beyond this a sticky digit decides the rounding, as in Go's decimal fallback


def _go_underscores_ok(s: str) -> bool:
    """Go's rule: an underscore sits between digits (a base prefix counts as a digit)."""
    if s[:1] in ("+", "-"):
        s = s[1:]
    prev, i, hexa = "^", 0, False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        prev, i, hexa = "0", 2, s[1] in "xX"
    for ch in s[i:]:
        if "0" <= ch <= "9" or (hexa and ch in "abcdefABCDEF"):
            prev = "0"
        elif ch == "_":
            if prev != "0":
                return False
            prev = "_"
        else:
            if prev == "_":
                return False
            prev = "!"
    return prev != "_"


def _to_float32(q: Fraction) -> float | None:
    """``q`` rounded to the nearest float32 (ties to even), as a Python float; None on overflow."""
    if q == 0:
        return 0.0
    neg, q = q < 0, abs(q)
    n, d = q.numerator, q.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(-e, 0)) < (d << max(e, 0)):
        e -= 1  # now 2**e <= q < 2**(e+1)
    shift = max(e - 23, -149)  # the weight of the last mantissa bit (subnormals below 2**-126)
    num, den = (n, d << shift) if shift >= 0 else (n << -shift, d)
    m, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and m & 1):
        m += 1
    value = math.ldexp(m, shift)
    if value >= 2.0 ** 128:
        return None
    return -value if neg else value


def _go_parse_float32(s: str) -> float | None:
    """Go's ``strconv.ParseFloat(s, 32)``; None where it returns an error (bad syntax or overflow)."""
    low = s.lower()
    if (low[1:] if low[:1] in ("+", "-") else low) in ("inf", "infinity"):
        return -math.inf if low.startswith("-") else math.inf
    if low == "nan":
        return math.nan
    m = _GO_HEX.fullmatch(s)
    bits_per_digit = 4 if m is not None else 0
    m = m or _GO_DEC.fullmatch(s)
    if m is None:
        return None
    whole, frac = m.group(1).replace("_", ""), (m.group(2) or "").replace("_", "")
    if not (whole or frac) or ("_" in s and not _go_underscores_ok(s)):
        return None
    zero = -0.0 if s.startswith("-") else 0.0
    digits = (whole + frac).lstrip("0")
    if not digits:
        return zero
    # value = int(digits) * base**-len(frac) * (2 or 10)**exp; keep the numbers small: a long
    # mantissa is cut with a sticky digit, an absurd exponent decides the answer by itself.
    exp_text = (m.group(3) or "0").replace("_", "")
    exp_digits = exp_text.lstrip("+-").lstrip("0") or "0"
    if len(exp_digits) > 9:
        return zero if exp_text.startswith("-") else None
    exp = int(exp_text)
    shift = -len(frac)
    if len(digits) > _MAX_DIGITS:
        shift += len(digits) - _MAX_DIGITS - 1
        digits = digits[:_MAX_DIGITS] + "1"
    if bits_per_digit:  # hex: value < 2**top, and >= 2**(top - 4)
        top = bits_per_digit * (len(digits) + shift) + exp
        if top - 4 >= 128:
            return None
        if top < -150:
            return zero
        q = Fraction(int(digits, 16)) * Fraction(2) ** (bits_per_digit * shift + exp)
    else:  # decimal: value < 10**top, and >= 10**(top - 1)
        top = len(digits) + shift + exp
        if top - 1 > 39:
            return None
        if top < -46:
            return zero
        q = Fraction(int(digits)) * Fraction(10) ** (shift + exp)
    value = _to_float32(q)
    if value is None:
        return None
    return -value if s.startswith("-") else value


def _float32_json(x: float) -> float:
    """The float Go's JSON encoder would print for float32 ``x`` (shortest digits): 0.7, not 0.699…"""
    if x == 0 or not math.isfinite(x):
        return x
    for p in range(1, 10):
        text = f"{x:.{p}g}"
        if _to_float32(Fraction(text)) == x:
            return float(text)
    return x


def _typed(key: str, kind: str, value: str) -> Any:
    if kind == FLOAT:
        f = _go_parse_float32(value)
        if f is None:
            raise InvalidOption(key, f"invalid float value [{value}]", hint=f"{key} takes a number, e.g. 0.7")
        return _float32_json(f)
    if kind == INT:
        if _GO_INT.fullmatch(value) and len(value.lstrip("+-").lstrip("0")) <= 19 and \
                _INT64[0] <= int(value) <= _INT64[1]:
            return int(value)
        raise InvalidOption(key, f"invalid int value [{value}]", hint=f"{key} takes a whole number")
    if kind == BOOL:
        if value in _GO_TRUE or value in _GO_FALSE:
            return value in _GO_TRUE
        raise InvalidOption(key, f"invalid bool value [{value}]", hint=f"{key} takes true or false")
    raise InvalidOption(key, f"unknown type {kind} for {key}")  # pragma: no cover - SPECS has no other kind


def _unknown_hint(key: str) -> str:
    if key == "":
        return "a PARAMETER line has two spaces before the name; write PARAMETER <name> <value>"
    if key.lower() in SPECS:
        return f"parameter names are case-sensitive: {key.lower()}"
    close = difflib.get_close_matches(key, sorted(SPECS), n=1)
    return (f"did you mean {close[0]}?" if close else "PARAMETER takes an option name") + \
        f"; known: {', '.join(sorted(SPECS))}"


def _add_param(out: dict[str, Any], key: str, values: list[str]) -> None:
    if key in DEPRECATED_PARAMETERS:
        log.warning("parameter %s is deprecated", key)
        return
    spec = SPECS.get(key)
    if spec is None:
        raise InvalidOption(key, f"unknown parameter '{key}'", hint=_unknown_hint(key))
    if spec.kind == STRINGS:
        out.setdefault(key, []).extend(values)
        return
    for value in values:
        out[key] = _typed(key, spec.kind, value)


def format_params(raw: Mapping[str, str | Iterable[str]]) -> dict[str, Any]:
    """Ollama's ``api.FormatParams`` over raw PARAMETER strings: each value typed by its option
    (int → ParseInt, float → ParseFloat(32), bool → ParseBool, ``stop`` → list), the last value of
    a repeated scalar kept, deprecated names skipped with a warning, then ranges checked by
    ``validate_options``. Raises ``InvalidOption`` (400) naming the parameter."""
    out: dict[str, Any] = {}
    for key, values in raw.items():
        _add_param(out, key, [values] if isinstance(values, str) else list(values))
    return validate_options(out)


# ---------------------------------------------------------------------------------------------
# show --modelfile


def _param_values(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (int, float, str)):
            out.append(str(v))
        else:
            out.append(json.dumps(v))
    return out


def _setting_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_commands(settings: Mapping[str, Any]) -> list[Command]:
    """Mullama directives from a model's stored settings (the inverse of ``Modelfile.settings``)."""
    out: list[Command] = []
    for key in ("gpu_layers", "flash_attention", "vision_projector", "digest"):
        if settings.get(key) is not None:
            out.append(Command(key, (_setting_text(settings[key]),)))
    for key, name in (("thinking", "thinking"), ("toolformat", "toolformat"), ("capabilities", "capability")):
        for k, v in (settings.get(key) or {}).items():
            out.append(Command(name, (str(k), _setting_text(v))))
    if settings.get("author") is not None:
        out.append(Command("author", (str(settings["author"]),)))
    return out


def to_modelfile(record: ModelRecord) -> str:
    """The ``modelfile`` of ``/api/show``: a header, then the model's commands in ``show`` order."""
    commands = [Command("from", (str(record.model_path),))]
    projector = getattr(record, "projector", None)
    if projector:
        commands.append(Command("from", (str(projector),)))
    commands += [Command("adapter", (str(p),)) for p in getattr(record, "adapters", None) or []]
    if record.template:
        commands.append(Command("template", (record.template,)))
    if record.system:
        commands.append(Command("system", (record.system,)))
    for key, value in record.params.items():
        commands += [Command("parameter", (key, v)) for v in _param_values(value)]
    commands += [Command("license", (text,)) for text in record.license]
    commands += [Command("message", (str(m.get("role", "user")), str(m.get("content", ""))))
                 for m in record.messages]
    settings = dict(getattr(record, "settings", None) or {})
    if projector:
        settings.pop("vision_projector", None)  # the projector's FROM line already names it
    commands += settings_commands(settings)
    header = (
        '# Modelfile generated by "mullama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        f"# FROM {record.name.display}\n"
        "\n"
    )
    return header + Modelfile(commands).to_text()
