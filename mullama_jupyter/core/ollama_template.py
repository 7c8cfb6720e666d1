"""Ollama's chat-template semantics on top of the Go template engine (``gotemplate``).

This mirrors upstream ``template/template.go`` (ollama/ollama fb30760) and the API types the
templates see (``api/types.go``):

- **Parse**: Go's parser with ``missingkey=zero`` and the extra functions ``json``, ``currentDate``,
  ``yesterdayDate`` and ``toTypeScriptType``; a template that names neither ``.Messages`` nor
  ``.Response`` gets ``{{ .Response }}`` appended.
- **Execute**, in one of three modes:
  *suffix* (both prompt and suffix given), *messages* (the template names ``.Messages``), else
  *legacy*: the template runs once per turn with ``.System``/``.Prompt``/``.Response`` and the last
  turn runs a copy of the template cut after its ``{{ .Response }}``.
- **Data**: messages are collated (consecutive same-role messages, tool results excepted, are merged
  with a blank line) and handed to the template as Go structs; ``.Tools``, a tool, its
  ``.Function``, ``.Function.Parameters``, ``.Function.Parameters.Properties`` and a tool call's
  ``.Function.Arguments`` print as compact JSON through Go ``String()`` methods.

Two places where we knowingly follow the documented behaviour rather than upstream HEAD:
``{{ .Function }}`` and ``{{ .Function.Parameters }}`` of a tool print JSON (at HEAD they print Go
struct syntax, ollama/ollama#14601, fixed by the open PR #18391 this mirrors), and JSON escapes
``\\b``/``\\f`` the way Go >= 1.22 does.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import math
import re
from functools import lru_cache
from typing import Any, Iterable

from .errors import TemplateError
from .gotemplate import (
    FUNCS,
    NILI,
    ActionNode,
    BranchNode,
    CommandNode,
    FieldNode,
    GoFunc,
    GoMap,
    GoSlice,
    GoStruct,
    GoTemplate,
    IfNode,
    ListNode,
    NilPointer,
    Node,
    PipeNode,
    RangeNode,
    TemplateNode,
    TextNode,
    VariableNode,
    WithNode,
    fmt_value,
    format_float,
)
from .native import Message

DEFAULT_TEMPLATE = "{{ .Prompt }}"
THINK_LEVELS = ("high", "medium", "low", "max")

# ------------------------------------------------------------------------------------- Go's JSON


class _JSONError(Exception):
    pass


_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
             "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}  # fmt: skip
_JSON_SPECIAL = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _json_char(m: re.Match[str]) -> str:
    c = m.group()
    if c in _JSON_ESC:
        return _JSON_ESC[c]
    if "\ud800" <= c <= "\udfff":  # invalid UTF-8 (a string sliced mid-rune)
        return "\\ufffd"
    return f"\\u{ord(c):04x}"


def json_string(s: str) -> str:
    return '"' + _JSON_SPECIAL.sub(_json_char, s) + '"'


def go_json(v: Any) -> str:
    """encoding/json.Marshal: compact, map keys sorted, HTML characters escaped."""
    if v is None or v is NILI or isinstance(v, NilPointer):
        return "null"
    marshal = getattr(v, "go_marshal_json", None)
    if marshal is not None and isinstance(v, (GoStruct, GoSlice, GoMap)):
        return marshal()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise _JSONError(f"json: unsupported value: {format_float(v)}")
        s = format_float(v, "json")
        return re.sub(r"e([+-])0(\d)$", r"e\1\2", s)  # Go writes 1e-07 as 1e-7
    if isinstance(v, str):
        return json_string(v)
    if isinstance(v, (bytes, bytearray)):
        return '"' + base64.b64encode(bytes(v)).decode() + '"'
    if isinstance(v, GoStruct):
        parts = []
        for field, name, omitempty in v.json_fields():
            x = getattr(v, field)
            if omitempty and _json_empty(x):
                continue
            parts.append(json_string(name) + ":" + go_json(x))
        return "{" + ",".join(parts) + "}"
    if isinstance(v, dict):
        if getattr(v, "is_nil", False):
            return "null"
        return "{" + ",".join(json_string(str(k)) + ":" + go_json(v[k]) for k in sorted(v)) + "}"
    if isinstance(v, (list, tuple)):
        if getattr(v, "is_nil", False):
            return "null"
        return "[" + ",".join(go_json(x) for x in v) + "]"
    raise _JSONError(f"json: unsupported type: {type(v).__name__}")


def _json_empty(v: Any) -> bool:
    if v is None or v is NILI or isinstance(v, NilPointer):
        return True
    if isinstance(v, (bool, int, float)):
        return not v
    if isinstance(v, (str, bytes, list, tuple, dict)):
        return len(v) == 0
    return False


# ---------------------------------------------------------------------- the types templates see


class _JSONStringer:
    """Go types whose String() is their JSON (json.Marshal)."""

    def go_string(self) -> str | None:
        try:
            return go_json(self)
        except _JSONError:
            return ""


class StringSlice(GoSlice):
    go_type = "[]string"


class ImageDataSlice(GoSlice):
    go_type = "[]api.ImageData"


class AnySlice(GoSlice):
    go_type = "[]interface {}"


class PropertyType(GoSlice):
    """api.PropertyType: a JSON type name or a list of them."""

    go_type = "api.PropertyType"
    go_methods = {"String": "go_string"}

    def go_string(self) -> str | None:
        if not self:
            return ""
        if len(self) == 1:
            return self[0]
        return fmt_value(list(self))

    def go_marshal_json(self) -> str:
        if len(self) == 1:
            return json_string(self[0])
        return go_json(StringSlice(self, is_nil=self.is_nil))


class ToolPropertySlice(GoSlice):
    go_type = "[]api.ToolProperty"


class ToolPropertiesMap(GoStruct):
    """api.ToolPropertiesMap (a pointer to an insertion-ordered map): nested object properties."""

    go_type = "api.ToolPropertiesMap"
    go_pointer = True
    go_methods = {"Len": "length"}

    def __init__(self, items: dict[str, "ToolProperty"]):
        self.items = items

    def length(self) -> int:
        return len(self.items)

    def go_marshal_json(self) -> str:
        return "{" + ",".join(json_string(k) + ":" + go_json(v) for k, v in self.items.items()) + "}"


def _nil_properties() -> NilPointer:
    return NilPointer("*api.ToolPropertiesMap", {"Len": lambda: 0})


class ToolProperty(GoStruct):
    go_type = "api.ToolProperty"
    go_fields = ("AnyOf", "Type", "Items", "Description", "Enum", "Properties", "Required")
    go_any_fields = frozenset({"Items"})
    go_methods = {"ToTypeScriptType": "to_typescript_type"}

    def __init__(self, AnyOf: ToolPropertySlice, Type: PropertyType, Items: Any, Description: str, Enum: AnySlice,
                 Properties: Any, Required: StringSlice):  # fmt: skip
        self.AnyOf, self.Type, self.Items, self.Description = AnyOf, Type, Items, Description
        self.Enum, self.Properties, self.Required = Enum, Properties, Required

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("AnyOf", "anyOf", True), ("Type", "type", True), ("Items", "items", True),
                ("Description", "description", True), ("Enum", "enum", True),
                ("Properties", "properties", True), ("Required", "required", True))  # fmt: skip

    @classmethod
    def zero(cls) -> "ToolProperty":
        return cls(ToolPropertySlice(is_nil=True), PropertyType(is_nil=True), None, "", AnySlice(is_nil=True),
                   _nil_properties(), StringSlice(is_nil=True))  # fmt: skip

    @classmethod
    def from_json(cls, d: Any) -> "ToolProperty":
        if not isinstance(d, dict):
            return cls.zero()
        any_of = d.get("anyOf")
        if "type" not in d:
            typ = PropertyType(is_nil=True)
        elif isinstance(d["type"], list):
            typ = PropertyType([str(t) for t in d["type"]], is_nil=False)
        else:  # a string; JSON null decodes as "" through PropertyType.UnmarshalJSON
            typ = PropertyType(["" if d["type"] is None else str(d["type"])])
        props = d.get("properties")
        enum = d.get("enum")
        return cls(
            ToolPropertySlice([cls.from_json(x) for x in any_of] if isinstance(any_of, list) else (),
                              is_nil=not isinstance(any_of, list)),  # fmt: skip
            typ,
            _go_any(d.get("items")),
            d.get("description") if isinstance(d.get("description"), str) else "",
            AnySlice([_go_any(x) for x in enum], is_nil=False) if isinstance(enum, list) else AnySlice(is_nil=True),
            ToolPropertiesMap({k: cls.from_json(v) for k, v in props.items()})
            if isinstance(props, dict)
            else _nil_properties(),
            _strings(d.get("required")),
        )

    def to_typescript_type(self) -> str:
        if self.AnyOf:
            return " | ".join(p.to_typescript_type() for p in self.AnyOf)
        if not self.Type:
            return "any"
        return " | ".join(_TS_TYPES.get(t, "any") for t in self.Type)


_TS_TYPES = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean", "array": "any[]",
             "object": "Record<string, any>", "null": "null"}  # fmt: skip


class TemplateProperties(_JSONStringer, GoMap):
    go_type = "template.templateProperties"
    go_methods = {"String": "go_string"}
    elem_is_any = False

    def zero(self) -> Any:
        return ToolProperty.zero()

    def go_string(self) -> str | None:
        return "{}" if self.is_nil else super().go_string()


class TemplateToolFunctionParameters(_JSONStringer, GoStruct):
    go_type = "template.templateToolFunctionParameters"
    go_fields = ("Type", "Defs", "Items", "Required", "Properties")
    go_any_fields = frozenset({"Defs", "Items"})
    go_methods = {"String": "go_string"}

    def __init__(self, Type: str, Defs: Any, Items: Any, Required: StringSlice, Properties: TemplateProperties):
        self.Type, self.Defs, self.Items, self.Required, self.Properties = Type, Defs, Items, Required, Properties

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("Type", "type", False), ("Defs", "$defs", True), ("Items", "items", True),
                ("Required", "required", True), ("Properties", "properties", False))  # fmt: skip


class TemplateToolFunction(_JSONStringer, GoStruct):
    go_type = "template.templateToolFunction"
    go_fields = ("Name", "Description", "Parameters")
    go_methods = {"String": "go_string"}

    def __init__(self, Name: str, Description: str, Parameters: TemplateToolFunctionParameters):
        self.Name, self.Description, self.Parameters = Name, Description, Parameters

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("Name", "name", False), ("Description", "description", False), ("Parameters", "parameters", False))


class TemplateTool(_JSONStringer, GoStruct):
    go_type = "template.templateTool"
    go_fields = ("Type", "Items", "Function")
    go_any_fields = frozenset({"Items"})
    go_methods = {"String": "go_string"}

    def __init__(self, Type: str, Items: Any, Function: TemplateToolFunction):
        self.Type, self.Items, self.Function = Type, Items, Function

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("Type", "type", False), ("Items", "items", True), ("Function", "function", False))


class TemplateTools(_JSONStringer, GoSlice):
    go_type = "template.templateTools"
    go_methods = {"String": "go_string"}


class TemplateArgs(_JSONStringer, GoMap):
    go_type = "template.templateArgs"
    go_methods = {"String": "go_string"}

    def go_string(self) -> str | None:
        return "{}" if self.is_nil else super().go_string()


class TemplateToolCallFunction(GoStruct):
    go_type = "template.templateToolCallFunction"
    go_fields = ("Index", "Name", "Arguments")

    def __init__(self, Index: int, Name: str, Arguments: TemplateArgs):
        self.Index, self.Name, self.Arguments = Index, Name, Arguments

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("Index", "Index", False), ("Name", "Name", False), ("Arguments", "Arguments", False))


class TemplateToolCall(GoStruct):
    go_type = "template.templateToolCall"
    go_fields = ("ID", "Function")

    def __init__(self, ID: str, Function: TemplateToolCallFunction):
        self.ID, self.Function = ID, Function

    @staticmethod
    def json_fields() -> Iterable[tuple[str, str, bool]]:
        return (("ID", "ID", False), ("Function", "Function", False))


class ToolCallSlice(GoSlice):
    go_type = "[]template.templateToolCall"


class TemplateMessage(GoStruct):
    go_type = "template.templateMessage"
    go_pointer = True
    go_fields = ("Role", "Content", "Thinking", "Images", "ToolCalls", "ToolName", "ToolCallID")

    def __init__(self, Role: str, Content: str, Thinking: str, Images: ImageDataSlice, ToolCalls: ToolCallSlice,
                 ToolName: str, ToolCallID: str):  # fmt: skip
        self.Role, self.Content, self.Thinking, self.Images = Role, Content, Thinking, Images
        self.ToolCalls, self.ToolName, self.ToolCallID = ToolCalls, ToolName, ToolCallID

    def json_fields(self) -> Iterable[tuple[str, str, bool]]:
        return ((f, f, False) for f in self.go_fields)


class MessageSlice(GoSlice):
    go_type = "[]*template.templateMessage"


def _go_any(v: Any) -> Any:
    """A JSON value as Go decodes it into interface{}: every number is a float64."""
    if isinstance(v, bool) or v is None or isinstance(v, (str, float)):
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, dict):
        return {str(k): _go_any(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_go_any(x) for x in v]
    return str(v)


def _strings(v: Any) -> StringSlice:
    if isinstance(v, list):
        return StringSlice([str(x) for x in v], is_nil=False)
    return StringSlice(is_nil=True)


def template_tools(tools: list[dict[str, Any]] | None) -> TemplateTools:
    """Tools in Ollama's JSON shape, converted as upstream's convertToolsForTemplate does."""
    if tools is None:
        return TemplateTools(is_nil=True)
    out = []
    for t in tools:
        t = t if isinstance(t, dict) else {}
        fn = t.get("function") if isinstance(t.get("function"), dict) else {}
        params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
        props = params.get("properties")
        out.append(
            TemplateTool(
                _str(t.get("type")),
                _go_any(t.get("items")),
                TemplateToolFunction(
                    _str(fn.get("name")),
                    _str(fn.get("description")),
                    TemplateToolFunctionParameters(
                        _str(params.get("type")),
                        _go_any(params.get("$defs")),
                        _go_any(params.get("items")),
                        _strings(params.get("required")),
                        TemplateProperties({k: ToolProperty.from_json(v) for k, v in props.items()})
                        if isinstance(props, dict)
                        else TemplateProperties(is_nil=True),
                    ),
                ),
            )
        )
    return TemplateTools(out)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _image_bytes(img: Any) -> bytes:
    if isinstance(img, (bytes, bytearray)):
        return bytes(img)
    try:
        return base64.b64decode(str(img), validate=True)
    except ValueError:
        return str(img).encode()


def template_messages(messages: list[Message]) -> MessageSlice:
    """Collated messages as the templates see them (upstream's convertMessagesForTemplate)."""
    if not messages:
        return MessageSlice(is_nil=True)
    out = []
    for m in messages:
        calls = [
            TemplateToolCall(
                c.id or "",
                TemplateToolCallFunction(
                    int(c.index or 0),
                    c.name,
                    TemplateArgs({str(k): _go_any(v) for k, v in c.arguments.items()})
                    if isinstance(c.arguments, dict)
                    else TemplateArgs(is_nil=True),
                ),
            )
            for c in m.tool_calls
        ]
        out.append(
            TemplateMessage(
                m.role,
                m.content or "",
                m.thinking or "",
                ImageDataSlice([_image_bytes(i) for i in m.images], is_nil=not m.images),
                ToolCallSlice(calls, is_nil=not calls),
                m.tool_name or "",
                "",  # Message has no tool_call_id
            )
        )
    return MessageSlice(out)


# ---------------------------------------------------------------------------------- functions


def _json_func(v: Any) -> str:
    try:
        return go_json(v)
    except _JSONError:  # upstream ignores json.Marshal's error: the result is empty
        return ""


def _today(*_: str) -> str:
    return _dt.date.today().strftime("%Y-%m-%d")


def _yesterday(*_: str) -> str:
    return (_dt.date.today() - _dt.timedelta(days=1)).strftime("%Y-%m-%d")


def _to_typescript_type(v: Any) -> str:
    return v.to_typescript_type() if isinstance(v, ToolProperty) else "any"


OLLAMA_FUNCS: dict[str, GoFunc] = {
    "json": GoFunc(_json_func, ["any"]),
    "currentDate": GoFunc(_today, [], "string"),
    "yesterdayDate": GoFunc(_yesterday, [], "string"),
    "toTypeScriptType": GoFunc(_to_typescript_type, ["any"]),
}

# ------------------------------------------------------------------------------------ parsing


def identifiers(n: Node | None) -> list[str]:
    """Upstream's Identifiers(): field and variable names along the tree (raises on a bare {{template}})."""
    if isinstance(n, ListNode):
        return [i for c in n.nodes for i in identifiers(c)]
    if isinstance(n, TemplateNode):
        if n.pipe is None:
            raise TemplateError("undefined template specified")
        return identifiers(n.pipe)
    if isinstance(n, ActionNode):
        return identifiers(n.pipe)
    if isinstance(n, BranchNode):
        names = identifiers(n.pipe)
        for lst in (n.list, n.else_list):
            if lst is not None:
                names += identifiers(lst)
        return names
    if isinstance(n, PipeNode):
        return [i for c in n.cmds for a in c.args for i in identifiers(a)]
    if isinstance(n, (FieldNode, VariableNode)):
        return list(n.ident)
    return []


def _vars(t: GoTemplate) -> set[str]:
    return {v.lower() for root in (t.root, *t.defined.values()) for v in identifiers(root)}


@lru_cache(maxsize=64)
def _parse_cached(text: str) -> tuple[GoTemplate, frozenset[str]]:
    t = GoTemplate.parse(text, OLLAMA_FUNCS)
    names = _vars(t)
    if "messages" not in names and "response" not in names:
        # upstream appends a {{ .Response }} action to the tree
        pipe = PipeNode(0, 0)  # upstream's node has position 0 (and no tree)
        cmd = CommandNode(0)
        cmd.args.append(FieldNode(0, ".Response"))
        pipe.cmds.append(cmd)
        t.root = ListNode(t.root.pos, [*t.root.nodes, ActionNode(0, 0, pipe)])
        names = names | {"response"}
    return t, frozenset(names)


def parse(template_text: str | None) -> GoTemplate:
    """Parse a TEMPLATE the way Ollama does (the result is shared: do not modify it). Raises TemplateError."""
    return _parse_cached(DEFAULT_TEMPLATE if template_text is None else template_text)[0]


def references(template_text: str | None) -> set[str]:
    """Upstream's Template.Vars(): every field/variable identifier the template names, lower-cased."""
    return set(_parse_cached(DEFAULT_TEMPLATE if template_text is None else template_text)[1])


def mode(template_text: str | None, *, prompt: str | None = None, suffix: str | None = None) -> str:
    """Which way render() runs this template: "suffix", "messages" or "legacy"."""
    if prompt and suffix:
        return "suffix"
    return "messages" if "messages" in references(template_text) else "legacy"


def infer_thinking_tags(template_text: str | None) -> tuple[str, str]:
    """Upstream's thinking.InferTags: the text around ``.Thinking`` inside ``range .Messages``."""
    t = parse(template_text)
    tags = ["", ""]
    ancestors: list[Node] = []

    def children(n: Node) -> list[Node | None]:
        if isinstance(n, ListNode):
            return list(n.nodes)
        if isinstance(n, BranchNode):
            return [n.pipe, n.list, n.else_list]
        if isinstance(n, (ActionNode, TemplateNode)):
            return [n.pipe]
        if isinstance(n, PipeNode):
            return list(n.cmds)
        if isinstance(n, CommandNode):
            return list(n.args)
        return []

    def uses_messages(r: RangeNode) -> bool:
        stack: list[Node | None] = [r.pipe]
        while stack:
            x = stack.pop()
            if x is None:
                continue
            if isinstance(x, FieldNode) and x.ident[0] == "Messages":
                return True
            stack.extend(children(x))
        return False

    def visit(n: Node | None) -> None:
        if n is None:
            return
        ancestors.append(n)
        if isinstance(n, FieldNode) and n.ident[0] == "Thinking":
            rng = next((a for a in reversed(ancestors) if isinstance(a, RangeNode)), None)
            if rng is not None and uses_messages(rng):
                lst = next((a for a in reversed(ancestors) if isinstance(a, ListNode)), None)
                if lst is not None and lst.nodes:
                    if isinstance(lst.nodes[0], TextNode):
                        tags[0] = lst.nodes[0].text.strip()
                    if isinstance(lst.nodes[-1], TextNode):
                        tags[1] = lst.nodes[-1].text.strip()
        for c in children(n):
            visit(c)
        ancestors.pop()

    visit(t.root)
    return tags[0], tags[1]


def capabilities(template_text: str | None) -> set[str]:
    """What the template implies: "tools" (names .Tools), "insert" (.Suffix), "thinking" (think tags)."""
    try:
        names = references(template_text)
        opening, closing = infer_thinking_tags(template_text)
    except TemplateError:
        return set()
    caps = set()
    if "tools" in names:
        caps.add("tools")
    if "suffix" in names:
        caps.add("insert")
    if opening and closing:
        caps.add("thinking")
    return caps


# ---------------------------------------------------------------------------------- rendering


def collate(messages: list[Message]) -> tuple[str, list[Message]]:
    """System text (all system messages) and the messages with same-role runs merged (tool excepted)."""
    system: list[str] = []
    out: list[Message] = []
    for m in messages:
        if m.role == "system":
            system.append(m.content)
        if out and out[-1].role == m.role and m.role != "tool":
            out[-1] = dataclasses.replace(out[-1], content=out[-1].content + "\n\n" + m.content)
        else:
            out.append(m)
    return "\n\n".join(system), out


def tag_images(messages: list[Message]) -> list[Message]:
    """Upstream's image tags: each image becomes ``[img-N]`` before the text, or replaces an ``[img]``."""
    out, n = [], 0
    for m in messages:
        prefix, content = "", m.content
        for _ in m.images:
            tag = f"[img-{n}]"
            n += 1
            if "[img]" in content:
                content = content.replace("[img]", tag, 1)
            else:
                prefix += tag
        out.append(dataclasses.replace(m, content=prefix + content) if m.images else m)
    return out


def _think_vars(think: bool | str | None) -> dict[str, Any]:
    if think is None:
        return {"Think": False, "ThinkLevel": "", "IsThinkSet": False}
    if isinstance(think, bool):
        return {"Think": think, "ThinkLevel": "medium" if think else "", "IsThinkSet": True}
    return {"Think": think in THINK_LEVELS, "ThinkLevel": str(think), "IsThinkSet": True}


def _cut_after_response(root: ListNode) -> ListNode:
    """Upstream's deleteNode: drop every node after the first ``.Response`` field (which stays)."""
    cut = False

    def walk(n: Node) -> Node | None:
        nonlocal cut
        if isinstance(n, FieldNode) and "Response" in n.ident:
            cut = True
        elif cut:
            return None
        if isinstance(n, ListNode):
            n.nodes = [c for c in (walk(x) for x in n.nodes) if c is not None]
        elif isinstance(n, (IfNode, WithNode, RangeNode)):
            if cut:  # upstream walks the branch node itself once more
                return None
            lst = walk(n.list)
            els = walk(n.else_list) if n.else_list is not None else None
            if lst is None or (n.else_list is not None and els is None):
                # upstream panics here (a nil type assertion): .Response inside a branch that has an else
                raise TemplateError("template: cannot cut the template after {{ .Response }} inside an if/with/range "
                                    "that has an else branch")  # fmt: skip
            n.list, n.else_list = lst, els  # type: ignore[assignment]
        elif isinstance(n, ActionNode):
            p = walk(n.pipe)
            if p is None:
                return None
            n.pipe = p  # type: ignore[assignment]
        elif isinstance(n, PipeNode):
            cmds = []
            for c in n.cmds:
                args = [a for a in (walk(x) for x in c.args) if a is not None]
                if not args:
                    return None
                c.args = args
                cmds.append(c)
            if not cmds:
                return None
            n.cmds = cmds
        return n

    return walk(root)  # type: ignore[return-value]


def render(
    template_text: str | None,
    messages: list[Message],
    *,
    tools: list[dict[str, Any]] | None = None,
    think: bool | str | None = None,
    suffix: str | None = None,
    prompt: str | None = None,
) -> str:
    """Render an Ollama TEMPLATE over a conversation, exactly as Ollama's Template.Execute does.

    ``prompt`` and ``suffix`` (both non-empty) select the fill-in-the-middle mode; otherwise they are
    ignored and the messages are rendered. Raises TemplateError.
    """
    tmpl = parse(template_text)
    names = references(template_text)
    tv = _think_vars(think)
    if prompt and suffix:
        return tmpl.execute({"Prompt": prompt, "Suffix": suffix, "Response": "", **tv})
    system, msgs = collate(list(messages))
    if "messages" in names:
        data = {
            "System": system,
            "Messages": template_messages(msgs),
            "Tools": template_tools(tools),
            "Response": "",
            **tv,
        }
        return tmpl.execute(data)

    # legacy: one run per turn; a turn ends when a system message follows a prompt or a response, or a
    # user message follows a response
    out: list[str] = []
    system, turn_prompt, response = "", "", ""
    for m in msgs:
        if m.role == "system":
            if turn_prompt or response:
                out.append(tmpl.execute({"System": system, "Prompt": turn_prompt, "Response": response, **tv}))
                system, turn_prompt, response = "", "", ""
            system = m.content
        elif m.role == "user":
            if response:
                out.append(tmpl.execute({"System": system, "Prompt": turn_prompt, "Response": response, **tv}))
                system, turn_prompt, response = "", "", ""
            turn_prompt = m.content
        elif m.role == "assistant":
            response = m.content
    # the last turn runs a copy cut after {{ .Response }}; upstream builds it as a new template, so it
    # has neither the extra functions, nor missingkey=zero, nor the {{define}}d templates
    last = GoTemplate(tmpl.text, _cut_after_response(tmpl.copy().root), {}, FUNCS)
    out.append(last.execute({"System": system, "Prompt": turn_prompt, "Response": response, **tv},
                            missingkey="default"))  # fmt: skip
    return "".join(out)
