"""Modelfile parsing, PARAMETER typing and writing.

The parser cases follow Ollama's ``parser/parser_test.go`` (commands are ours: FROM is "from", a
PARAMETER is ("parameter", (name, value)), a MESSAGE ("message", (role, content))).
"""

from __future__ import annotations

import logging
import math
import types
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mullama_jupyter.core.errors import InvalidOption, InvalidRequest
from mullama_jupyter.core.modelfile import (
    DEPRECATED_PARAMETERS,
    Command,
    Modelfile,
    ModelfileError,
    can_round_trip,
    format_params,
    parse_modelfile,
    quote,
    settings_commands,
    to_modelfile,
)

UPSTREAM_COMMANDS = (
    '"from", "license", "template", "system", "adapter", "draft", "renderer", "parser", "parameter", "message", '
)
INVALID_COMMAND = (
    "command must be one of " + UPSTREAM_COMMANDS + '"requires", "gpu_layers", "flash_attention", '
    '"vision_projector", "mmproj", "digest", "thinking", "toolformat", "capability", or "author"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'

LLAMA3 = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>{{ end }}"
    "{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>{{ end }}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{{ .Response }}<|eot_id|>"
)


def F(value: str) -> Command:
    return Command("from", (value,))


def P(name: str, value: str) -> Command:
    return Command("parameter", (name, value))


def M(role: str, content: str) -> Command:
    return Command("message", (role, content))


def C(name: str, *args: str) -> Command:
    return Command(name, args)


def cmds(text: str | bytes) -> list[Command]:
    return parse_modelfile(text).commands


def error(text: str | bytes) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse_modelfile(text)
    return info.value


# --------------------------------------------------------------------------------------------
# Ollama's grammar (parser_test.go)


def test_parse_file():
    text = (
        "\nFROM model1\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
        f'TEMPLATE """{LLAMA3}"""    \n'
    )
    assert cmds(text) == [
        F("model1"), C("adapter", "adapter1"), C("license", "MIT"), P("param1", "value1"), P("param2", "value2"),
        C("template", LLAMA3),
    ]


def test_draft():
    mf = parse_modelfile("\nFROM base\nDRAFT ./assistant\n")
    assert mf.commands == [F("base"), C("draft", "./assistant")]
    assert mf.draft == "./assistant"
    assert "DRAFT ./assistant\n" in mf.to_text()


def test_trim_space():
    text = (
        '\nFROM "     model 1"\nADAPTER      adapter3\nLICENSE "MIT       "\nPARAMETER param1        value1\n'
        f'PARAMETER param2    value2\nTEMPLATE """   {LLAMA3}   """    \n'
    )
    assert cmds(text) == [
        F("     model 1"), C("adapter", "adapter3"), C("license", "MIT       "), P("param1", "value1"),
        P("param2", "value2"), C("template", f"   {LLAMA3}   "),
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('FROM "FOO  BAR  "', [F("FOO  BAR  ")]),
        ('FROM "FOO BAR"\nPARAMETER param1 value1', [F("FOO BAR"), P("param1", "value1")]),
        ("FROM     FOOO BAR    ", [F("FOOO BAR")]),
        ("FROM /what/is/the path ", [F("/what/is/the path")]),
        ("FROM foo", [F("foo")]),
        ("FROM /path/to/model", [F("/path/to/model")]),
        ("FROM /path/to/model/fp16.bin", [F("/path/to/model/fp16.bin")]),
        ("FROM llama3:latest", [F("llama3:latest")]),
        ("FROM llama3:7b-instruct-q4_K_M", [F("llama3:7b-instruct-q4_K_M")]),
        ("PARAMETER param1 value1\nFROM foo", [P("param1", "value1"), F("foo")]),
        ("PARAMETER what the \nFROM lemons make lemonade ", [P("what", "the"), F("lemons make lemonade")]),
        ("from foo", [F("foo")]),
        ("FrOm foo", [F("foo")]),
        ("\n\n  \t FROM foo", [F("foo")]),
        ("FROM\tfoo", [F("foo")]),
        ("FROM foo\nFROM ./mmproj.gguf", [F("foo"), F("./mmproj.gguf")]),
    ],
)
def test_from(text, expected):
    assert cmds(text) == expected


@pytest.mark.parametrize("text", ["", "PARAMETER param1 value1", "# just a comment\n", "\n\n  \n", "SYSTEM hi\n"])
def test_no_from_line(text):
    e = error(text)
    assert e.message == "no FROM line"
    assert e.hint and "FROM" in e.hint
    assert isinstance(e, InvalidRequest) and e.status == 400


def test_parameter_missing_value():
    e = error("\nFROM foo\nPARAMETER param1\n")
    assert e.message == "unexpected EOF: param1"
    assert e.line == 3 and "line 3" in e.hint


def test_bad_command():
    e = error("\nFROM foo\nBADCOMMAND param1 value1\n")
    assert e.message == f"(line 3): {INVALID_COMMAND}"
    assert e.line == 3
    assert "BADCOMMAND" in e.hint


def test_renderer_and_parser():
    mf = parse_modelfile("\nFROM foo\nRENDERER renderer1\nPARSER parser1\nREQUIRES 0.14.0\n")
    assert mf.commands == [F("foo"), C("renderer", "renderer1"), C("parser", "parser1"), C("requires", "0.14.0")]
    assert (mf.renderer, mf.parser, mf.requires) == ("renderer1", "parser1", "0.14.0")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\n",
         [F("foo"), M("system", "You are a file parser. Always parse things.")]),
        ("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.",
         [F("foo"), M("system", "You are a file parser. Always parse things.")]),
        ("\nFROM foo\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n"
         "MESSAGE assistant Hello, I want to parse all the things!\n",
         [F("foo"), M("system", "You are a file parser. Always parse things."), M("user", "Hey there!"),
          M("assistant", "Hello, I want to parse all the things!")]),
        ('\nFROM foo\nMESSAGE system """\nYou are a multiline file parser. Always parse things.\n"""\n\t\t\t',
         [F("foo"), M("system", "\nYou are a multiline file parser. Always parse things.\n")]),
        ("FROM foo\nmessage user hi", [F("foo"), M("user", "hi")]),
    ],
)
def test_messages(text, expected):
    mf = parse_modelfile(text)
    assert mf.commands == expected
    assert mf.messages == [{"role": c.args[0], "content": c.args[1]} for c in expected if c.name == "message"]


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("\nFROM foo\nMESSAGE badguy I'm a bad guy!\n", f"(line 3): {INVALID_ROLE}", 3),
        ("\nFROM foo\nMESSAGE User hi\n", f"(line 3): {INVALID_ROLE}", 3),
        ("FROM foo\nMESSAGE  user hi\n", f"(line 2): {INVALID_ROLE}", 2),  # two spaces: the role is ""
        ("\nFROM foo\nMESSAGE system\n", "unexpected EOF: system", 3),
        ("\nFROM foo\nMESSAGE system", "unexpected EOF", 3),
        ("FROM foo\nMESSAGE user1 hi", "unexpected EOF: user", 2),
    ],
)
def test_message_errors(text, message, line):
    e = error(text)
    assert (e.message, e.line) == (message, line)
    assert e.hint


@pytest.mark.parametrize(
    "text, expected",
    [
        ('\nFROM foo\nSYSTEM """\nThis is a\nmultiline system.\n"""\n\t\t\t', "\nThis is a\nmultiline system.\n"),
        ('\nFROM foo\nSYSTEM """\nThis is a\nmultiline system."""\n\t\t\t', "\nThis is a\nmultiline system."),
        ('\nFROM foo\nSYSTEM """This is a\nmultiline system."""\n\t\t\t', "This is a\nmultiline system."),
        ('\nFROM foo\nSYSTEM """This is a multiline system."""\n\t\t\t', "This is a multiline system."),
        ('\nFROM foo\nSYSTEM """\nThis is a multiline system with "quotes".\n"""\n',
         '\nThis is a multiline system with "quotes".\n'),
        ('\nFROM foo\nSYSTEM """"""\n', ""),
        ('\nFROM foo\nSYSTEM ""\n', ""),
        ("\nFROM foo\nSYSTEM \"'\"\n", "'"),
        ('\nFROM foo\nSYSTEM """\'\'"\'""\'""\'"\'\'\'\'\'""\'""\'"""\n', '\'\'"\'""\'""\'"\'\'\'\'\'""\'""\''),
        ('FROM foo\nSYSTEM """\nabc\n"""', "\nabc\n"),
        ('FROM foo\nSYSTEM "a" b"', 'a" b'),  # no escapes: the outer quotes go, the inner one stays
        ('FROM foo\nSYSTEM "a" b\nc"', 'a" b\nc'),  # starts with a quote, does not end with one: read on
        ('FROM foo\nSYSTEM "line one\n  line two  "\n', "line one\n  line two  "),
        ("FROM foo\nSYSTEM a\tb  c \n", "a\tb  c"),
        ("FROM foo\nSYSTEM # not a comment\n", "# not a comment"),
        ('FROM foo\nSYSTEM ab"\n', 'ab"'),
    ],
)
def test_quoted(text, expected):
    mf = parse_modelfile(text)
    assert mf.commands == [F("foo"), C("system", expected)]
    assert mf.system == expected


@pytest.mark.parametrize(
    "text, line, closer",
    [
        ('\nFROM foo\nSYSTEM """This is a multiline system.""\n\t\t\t', 3, '"""'),
        ('\nFROM foo\nSYSTEM "\n\t\t\t', 3, '"'),
        ('FROM foo\nTEMPLATE """\n{{ .Prompt }}\n', 2, '"""'),
        ('FROM foo\nSYSTEM "a" b\n', 2, '"'),
    ],
)
def test_unterminated_quote(text, line, closer):
    e = error(text)
    assert e.message == "unexpected EOF"
    assert e.line == line
    assert f"line {line}" in e.hint and e.hint.endswith(closer)


def test_template_quoted_at_eof():
    assert cmds('\nFROM foo\nTEMPLATE """\n{{ .Prompt }}\n"""') == [F("foo"), C("template", "\n{{ .Prompt }}\n")]


@pytest.mark.parametrize(
    "line, name, value",
    [
        ("numa true", "numa", "true"),
        ("num_ctx 1", "num_ctx", "1"),
        ("num_batch 1", "num_batch", "1"),
        ("num_gqa 1", "num_gqa", "1"),
        ("num_gpu 1", "num_gpu", "1"),
        ("main_gpu 1", "main_gpu", "1"),
        ("use_mmap true", "use_mmap", "true"),
        ("num_thread 1", "num_thread", "1"),
        ("num_keep 1", "num_keep", "1"),
        ("seed 1", "seed", "1"),
        ("num_predict 1", "num_predict", "1"),
        ("top_k 1", "top_k", "1"),
        ("top_p 1.0", "top_p", "1.0"),
        ("min_p 0.05", "min_p", "0.05"),
        ("typical_p 1.0", "typical_p", "1.0"),
        ("repeat_last_n 1", "repeat_last_n", "1"),
        ("temperature 1.0", "temperature", "1.0"),
        ("repeat_penalty 1.0", "repeat_penalty", "1.0"),
        ("presence_penalty 1.0", "presence_penalty", "1.0"),
        ("frequency_penalty 1.0", "frequency_penalty", "1.0"),
        ("penalize_newline true", "penalize_newline", "true"),
        ("stop ### User:", "stop", "### User:"),
        ("stop ### User: ", "stop", "### User:"),
        ('stop "### User:"', "stop", "### User:"),
        ('stop "### User: "', "stop", "### User: "),
        ('stop """### User:"""', "stop", "### User:"),
        ('stop """### User:\n"""', "stop", "### User:\n"),
        ("stop <|endoftext|>", "stop", "<|endoftext|>"),
        ("stop <|eot_id|>", "stop", "<|eot_id|>"),
        ("stop </s>", "stop", "</s>"),
        ("Temperature 1", "Temperature", "1"),  # names are case-sensitive
        ("  temperature 0.5", "", "temperature 0.5"),  # upstream quirk: a second space ends the (empty) name
    ],
)
def test_parameters(line, name, value):
    assert cmds(f"FROM foo\nPARAMETER {line}\n") == [F("foo"), P(name, value)]


def test_parameters_accumulate():
    mf = parse_modelfile("FROM foo\nPARAMETER stop a\nPARAMETER temperature 1\nPARAMETER stop b\n")
    assert mf.parameters == {"stop": ["a", "b"], "temperature": ["1"]}


@pytest.mark.parametrize(
    "text, message, line",
    [
        ("FROM foo\nPARAMETER num-ctx 1\n", "unexpected EOF: num", 2),
        ("FROM foo\nPARAMETER stop\n", "unexpected EOF: stop", 2),
        ("FROM foo\nPARAMETER stop", "unexpected EOF", 2),
        ("FROM foo\nPARAMETER", "unexpected EOF", 2),
        ("FROM foo\nSYSTEM", "unexpected EOF", 2),
        ("FROM", "unexpected EOF", 1),
    ],
)
def test_eof_errors(text, message, line):
    e = error(text)
    assert (e.message, e.line) == (message, line)
    assert e.hint and f"line {line}" in e.hint


@pytest.mark.parametrize(
    "text, line, hint_part",
    [
        ("FROM\n", 2, "FROM needs a value"),  # upstream counts the newline that ends the word
        ("FROM foo\nSYSTEM\nhi", 3, "SYSTEM needs a value"),
        ("FROM1 foo", 1, "space"),
        ("FROM:foo", 1, "space"),
        ("FROMM foo", 1, "did you mean FROM"),
        ("num_ctx 4096\nFROM foo", 1, "PARAMETER num_ctx"),
        ("num_ctx\nFROM foo", 1, "PARAMETER num_ctx"),  # reported where upstream stops (the "_")
        ("FROM foo\r\nBAD x", 3, "BAD"),  # CRLF: upstream counts \r and \n
        ("FROM foo\rBAD x", 2, "BAD"),
        ("FROM foo\n# BAD x\n  BAD x", 3, "BAD"),
    ],
)
def test_invalid_command(text, line, hint_part):
    e = error(text)
    assert e.message == f"(line {line}): {INVALID_COMMAND}"
    assert e.line == line
    assert hint_part in e.hint


def test_comments():
    assert cmds("\n# comment\nFROM foo\n\t") == [F("foo")]
    assert cmds("  # indented comment\nFROM foo # not a comment\n#FROM bar") == [F("foo # not a comment")]


@pytest.mark.parametrize(
    "text",
    [
        "\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n"
        "TEMPLATE template1\nMESSAGE system You are a file parser. Always parse things.\nMESSAGE user Hey there!\n"
        "MESSAGE assistant Hello, I want to parse all the things!\n",
        '\nFROM foo\nADAPTER adapter1\nLICENSE MIT\nPARAMETER param1 value1\nPARAMETER param2 value2\n'
        'TEMPLATE template1\nMESSAGE system """\nYou are a store greeter. Always respond with "Hello!".\n"""\n'
        "MESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        '\nFROM foo\nADAPTER adapter1\nLICENSE """\nVery long and boring legal text.\nBlah blah blah.\n'
        '"Oh look, a quote!"\n"""\n\nPARAMETER param1 value1\nPARAMETER param2 value2\nTEMPLATE template1\n'
        'MESSAGE system """\nYou are a store greeter. Always respond with "Hello!".\n"""\n'
        "MESSAGE user Hey there!\nMESSAGE assistant Hello, I want to parse all the things!\n",
        '\nFROM foo\nSYSTEM ""\n',
    ],
)
def test_format_then_parse(text):
    mf = parse_modelfile(text)
    assert parse_modelfile(mf.to_text(keep_order=True)).commands == mf.commands
    assert parse_modelfile(mf.to_text()).commands == mf.sorted().commands


UTF16_TEXT = "FROM bob\nPARAMETER param1 1\nPARAMETER param2 4096\nSYSTEM You are a utf16 file.\n"
UTF16_EXPECTED = [F("bob"), P("param1", "1"), P("param2", "4096"), C("system", "You are a utf16 file.")]


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_bom(encoding, bom):
    assert cmds(bom + UTF16_TEXT.encode(encoding)) == UTF16_EXPECTED


@pytest.mark.parametrize(
    "data",
    [
        "FROM test\n\tSYSTEM 你好👋".encode(),
        b"\xef\xbb\xbf" + "FROM test\n\tSYSTEM 你好👋".encode(),
        b"\xff\xfe" + "FROM test\n\tSYSTEM 你好👋".encode("utf-16-le"),
        b"\xfe\xff" + "FROM test\n\tSYSTEM 你好👋".encode("utf-16-be"),
        "\ufeffFROM test\n\tSYSTEM 你好👋",
    ],
)
def test_multibyte(data):
    assert cmds(data) == [F("test"), C("system", "你好👋")]


def test_crlf_file():
    lf = 'FROM foo\nPARAMETER stop "### User: "\nSYSTEM """\nhello\n"""\nMESSAGE user hi\n'
    crlf = lf.replace("\n", "\r\n")
    assert cmds(crlf.encode()) == [F("foo"), P("stop", "### User: "), C("system", "\r\nhello\r\n"), M("user", "hi")]
    # single-line values are the same either way; inside quotes the \r\n is kept, as upstream does
    assert [c for c in cmds(crlf) if c.name != "system"] == [c for c in cmds(lf) if c.name != "system"]


def test_non_printable_runes_are_dropped():
    assert cmds("FROM x\nSYSTEM a\x00b\u00a0c\u200bd\te\n") == [F("x"), C("system", "abcd\te")]
    assert cmds('FROM x\nSYSTEM "\x07a\x1b"') == [F("x"), C("system", "a")]
    # an invalid UTF-8 byte becomes U+FFFD, one per byte (Go's decoder)
    assert cmds(b"FROM x\nSYSTEM a\xe4\xbdb\n") == [F("x"), C("system", "a\ufffd\ufffdb")]


# --------------------------------------------------------------------------------------------
# Mullama directives

MULLAMA = """FROM hf:bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M
gpu_layers 32
Flash_Attention yes
MMPROJ ./mmproj-model-f16.gguf
DIGEST ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789
THINKING start "<think>"
THINKING   END </think>
THINKING enabled true
TOOLFORMAT style qwen
TOOLFORMAT call_start <tool_call>
TOOLFORMAT call_end </tool_call>
CAPABILITY tools on
CAPABILITY Vision 0
AUTHOR "Jane Doe"
"""


def test_mullama_directives():
    mf = parse_modelfile(MULLAMA)
    assert mf.commands == [
        F("hf:bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M"),
        C("gpu_layers", "32"),
        C("flash_attention", "yes"),
        C("vision_projector", "./mmproj-model-f16.gguf"),
        C("digest", "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"),
        C("thinking", "start", "<think>"),
        C("thinking", "end", "</think>"),
        C("thinking", "enabled", "true"),
        C("toolformat", "style", "qwen"),
        C("toolformat", "call_start", "<tool_call>"),
        C("toolformat", "call_end", "</tool_call>"),
        C("capability", "tools", "on"),
        C("capability", "vision", "0"),
        C("author", "Jane Doe"),
    ]
    assert mf.gpu_layers == 32
    assert mf.flash_attention is True
    assert mf.vision_projector == "./mmproj-model-f16.gguf"
    assert mf.digest == "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
    assert mf.thinking == {"start": "<think>", "end": "</think>", "enabled": True}
    assert mf.toolformat == {"style": "qwen", "call_start": "<tool_call>", "call_end": "</tool_call>"}
    assert mf.capabilities == {"tools": True, "vision": False}
    assert mf.author == "Jane Doe"
    assert mf.settings == {
        "gpu_layers": 32, "flash_attention": True, "vision_projector": "./mmproj-model-f16.gguf",
        "digest": "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
        "thinking": {"start": "<think>", "end": "</think>", "enabled": True},
        "toolformat": {"style": "qwen", "call_start": "<tool_call>", "call_end": "</tool_call>"},
        "capabilities": {"tools": True, "vision": False}, "author": "Jane Doe",
    }
    # and back: settings_commands is the inverse of settings
    again = Modelfile([F("x"), *settings_commands(mf.settings)])
    assert again.settings == mf.settings
    assert parse_modelfile(again.to_text()).settings == mf.settings


def test_mullama_defaults_and_last_wins():
    mf = parse_modelfile("FROM x\nGPU_LAYERS 1\nGPU_LAYERS -1\nFLASH_ATTENTION OFF\nVISION_PROJECTOR a\nMMPROJ b\n"
                         "DIGEST sha256:" + "0" * 64)
    assert (mf.gpu_layers, mf.flash_attention, mf.vision_projector) == (-1, False, "b")
    assert mf.digest == "sha256:" + "0" * 64
    bare = parse_modelfile("FROM x")
    assert (bare.gpu_layers, bare.flash_attention, bare.vision_projector, bare.digest, bare.author) == (None,) * 5
    assert (bare.thinking, bare.toolformat, bare.capabilities, bare.settings) == ({}, {}, {}, {})
    assert (bare.template, bare.system, bare.requires, bare.renderer, bare.parser, bare.draft) == (None,) * 6
    assert (bare.license, bare.messages, bare.adapters, bare.parameters) == ([], [], [], {})


@pytest.mark.parametrize("word", ["true", "1", "yes", "on", "TRUE", "Yes", "ON"])
def test_mullama_true(word):
    assert parse_modelfile(f"FROM x\nFLASH_ATTENTION {word}").flash_attention is True
    assert parse_modelfile(f"FROM x\nCAPABILITY json {word}").capabilities == {"json": True}


@pytest.mark.parametrize("word", ["false", "0", "no", "off", "False", "NO"])
def test_mullama_false(word):
    assert parse_modelfile(f"FROM x\nFLASH_ATTENTION {word}").flash_attention is False
    assert parse_modelfile(f"FROM x\nTHINKING enabled {word}").thinking == {"enabled": False}


BOOLS = "true or false (or 1/0, yes/no, on/off)"


@pytest.mark.parametrize(
    "line, message",
    [
        ("GPU_LAYERS abc", 'GPU_LAYERS must be an integer, not "abc"'),
        ("GPU_LAYERS 1.5", 'GPU_LAYERS must be an integer, not "1.5"'),
        ("GPU_LAYERS 99999999999", 'GPU_LAYERS must be an integer, not "99999999999"'),
        ("GPU_LAYERS " + "9" * 5000, "GPU_LAYERS must be an integer, not "),
        ("GPU_LAYERS \n", 'GPU_LAYERS must be an integer, not ""'),
        ("FLASH_ATTENTION maybe", f'FLASH_ATTENTION must be {BOOLS}, not "maybe"'),
        ("VISION_PROJECTOR \"\"", "VISION_PROJECTOR needs a path"),
        ("MMPROJ \n", "MMPROJ needs a path"),
        ("DIGEST sha256:12", 'DIGEST must be sha256:<64 hex digits> or <64 hex digits>, not "sha256:12"'),
        ("DIGEST sha256-" + "a" * 64, "DIGEST must be sha256:<64 hex digits> or <64 hex digits>"),
        ("DIGEST " + "g" * 64, "DIGEST must be sha256:<64 hex digits> or <64 hex digits>"),
        ("THINKING foo bar", 'THINKING key must be one of "start", "end", or "enabled", not "foo"'),
        ("THINKING st-art x", 'THINKING key must be one of "start", "end", or "enabled", not "st-"'),
        ("THINKING enabled perhaps", f'THINKING enabled must be {BOOLS}, not "perhaps"'),
        ("THINKING start\n", "THINKING needs a key and a value"),
        ("THINKING start", "THINKING needs a key and a value"),
        ("THINKING \n", "THINKING needs a key and a value"),
        ("TOOLFORMAT x y", 'TOOLFORMAT key must be one of "style", "call_start", "call_end", "result_start", '
                           'or "result_end", not "x"'),
        ("CAPABILITY audio true", 'CAPABILITY must be one of "json", "tools", "thinking", or "vision", not "audio"'),
        ("CAPABILITY tools 2", f'CAPABILITY tools must be {BOOLS}, not "2"'),
        ("CAPABILITY tools", "CAPABILITY needs a key and a value"),
    ],
)
def test_mullama_errors(line, message):
    e = error(f"# a Mullamafile\nFROM x\n{line}")
    assert e.message.startswith(f"(line 3): {message}")
    assert e.line == 3
    assert e.hint


def test_mullama_error_reports_where_the_directive_starts():
    e = error('FROM x\nTHINKING enabled """\nyes\nplease"""\n')
    assert e.message == f'(line 2): THINKING enabled must be {BOOLS}, not "\nyes\nplease"'


def test_mullama_multiline_values():
    mf = parse_modelfile('FROM x\nTOOLFORMAT result_start """<tool_response>\n"""\nAUTHOR " A. Author "')
    assert mf.toolformat == {"result_start": "<tool_response>\n"}
    assert mf.author == " A. Author "


# --------------------------------------------------------------------------------------------
# format_params (api.FormatParams)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"temperature": ["0.7"]}, {"temperature": 0.7}),
        ({"temperature": "0.5"}, {"temperature": 0.5}),
        ({"top_p": ["1.0"], "min_p": [".05"]}, {"top_p": 1.0, "min_p": 0.05}),
        ({"temperature": ["1_0.5"]}, {"temperature": 10.5}),  # Go allows "_" between digits
        ({"temperature": ["0x1p-2"]}, {"temperature": 0.25}),  # and hex floats
        ({"temperature": ["1e-50"]}, {"temperature": 0.0}),  # underflow is not an error
        ({"top_k": ["1"], "num_ctx": ["08192"], "seed": ["-1"]}, {"top_k": 1, "num_ctx": 8192, "seed": -1}),
        ({"seed": ["9223372036854775807"]}, {"seed": 9223372036854775807}),
        ({"use_mmap": ["t"]}, {"use_mmap": True}),
        ({"use_mmap": ["F"]}, {"use_mmap": False}),
        ({"numa": ["True"]}, {"numa": True}),
        ({"stop": ["<|eot_id|>", "### User: "]}, {"stop": ["<|eot_id|>", "### User: "]}),
        ({"temperature": ["0.1", "0.9"]}, {"temperature": 0.9}),  # line by line, the last one wins
        ({}, {}),
    ],
)
def test_format_params(raw, expected):
    got = format_params(raw)
    assert got == expected
    for key, value in got.items():
        assert type(value) is type(expected[key])


def test_float32_values_print_short():
    # float32(0.7) is 0.699999988…; like Go's JSON, the shortest form that reads back is used
    assert repr(format_params({"temperature": ["0.7"]})["temperature"]) == "0.7"
    assert format_params({"repeat_penalty": ["1.1"]})["repeat_penalty"] == 1.1
    assert format_params({"min_p": ["0.1234567891"]})["min_p"] == 0.12345679


@pytest.mark.parametrize("word", ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"])
def test_go_bools(word):
    assert format_params({"use_mmap": [word]}) == {"use_mmap": word in ("1", "t", "T", "TRUE", "true", "True")}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"foo": ["1"]}, "unknown parameter 'foo'"),
        ({"": ["temperature 0.5"]}, "unknown parameter ''"),
        ({"Temperature": ["1"]}, "unknown parameter 'Temperature'"),
        ({"tfs_z": ["1"]}, "unknown parameter 'tfs_z'"),
        ({"draft_num_predict": ["4"]}, "unknown parameter 'draft_num_predict'"),
        ({"temperature": ["abc"]}, "invalid float value [abc]"),
        ({"temperature": ["1e39"]}, "invalid float value [1e39]"),  # out of float32 range
        ({"temperature": ["0x1"]}, "invalid float value [0x1]"),
        ({"temperature": [" 1"]}, "invalid float value [ 1]"),
        ({"temperature": ["1__0"]}, "invalid float value [1__0]"),
        ({"top_k": ["abc"]}, "invalid int value [abc]"),
        ({"top_k": ["1.0"]}, "invalid int value [1.0]"),
        ({"top_k": ["1_000"]}, "invalid int value [1_000]"),
        ({"seed": ["9223372036854775808"]}, "invalid int value [9223372036854775808]"),
        ({"seed": ["9" * 5000]}, "invalid int value ["),
        ({"use_mmap": ["yes"]}, "invalid bool value [yes]"),
        ({"use_mmap": ["tRUE"]}, "invalid bool value [tRUE]"),
        ({"top_p": ["2"]}, 'option "top_p" is out of range'),
        ({"num_ctx": ["0"]}, 'option "num_ctx" is out of range'),
        ({"temperature": ["nan"]}, 'option "temperature" must be a finite number'),
        ({"temperature": ["-Inf"]}, 'option "temperature" must be a finite number'),
    ],
)
def test_format_params_errors(raw, message):
    with pytest.raises(InvalidOption) as info:
        format_params(raw)
    assert info.value.message.startswith(message)
    assert info.value.option == next(iter(raw))
    assert info.value.status == 400


def test_format_params_hints():
    with pytest.raises(InvalidOption) as info:
        format_params({"temprature": ["1"]})
    assert "did you mean temperature?" in info.value.hint
    with pytest.raises(InvalidOption) as info:
        format_params({"": ["temperature 1"]})
    assert "two spaces" in info.value.hint


def test_deprecated_parameters_are_skipped(caplog):
    raw = {name: ["1"] for name in DEPRECATED_PARAMETERS}
    with caplog.at_level(logging.WARNING, logger="mullama_jupyter.core.modelfile"):
        assert format_params({**raw, "top_k": ["5"]}) == {"top_k": 5}
    for name in DEPRECATED_PARAMETERS:
        assert f"parameter {name} is deprecated" in caplog.text


def test_modelfile_options():
    mf = parse_modelfile("FROM test\nPARAMETER temperature 0.5\nPARAMETER top_k 1\nPARAMETER stop a\n"
                         "PARAMETER stop b\nPARAMETER mirostat 2\nSYSTEM You are a bot.\n")
    assert mf.options() == {"temperature": 0.5, "top_k": 1, "stop": ["a", "b"]}
    with pytest.raises(InvalidOption) as info:
        parse_modelfile("FROM x\n\nPARAMETER top_k many\n").options()
    assert info.value.message == "invalid int value [many]"
    assert info.value.hint.startswith("PARAMETER on line 3")
    with pytest.raises(InvalidOption) as info:
        parse_modelfile("FROM x\nPARAMETER top_p 3\n").options()
    assert info.value.hint.startswith("PARAMETER on line 2")


# --------------------------------------------------------------------------------------------
# Writing


@pytest.mark.parametrize(
    "value, quoted",
    [
        ("plain", "plain"),
        ("inner space", "inner space"),
        ("", ""),
        (" lead", '" lead"'),
        ("trail ", '"trail "'),
        ("\ttab", '"\ttab"'),
        ("two\nlines", '"two\nlines"'),
        ('say "hi"\nnow', '"""say "hi"\nnow"""'),
        ('"quoted"', '""""quoted""""'),
        ("cr\rhere", '"cr\rhere"'),
        ('ends with "', 'ends with "'),
    ],
)
def test_quote(value, quoted):
    assert quote(value) == quoted


def test_command_text():
    assert F("/blobs/sha256-x").to_text() == "FROM /blobs/sha256-x"
    assert P("stop", "### User: ").to_text() == 'PARAMETER stop "### User: "'
    assert M("user", "Hello").to_text() == "MESSAGE user Hello"
    assert C("license", "a\nb").to_text() == 'LICENSE "a\nb"'
    assert C("mmproj", "p.gguf") == C("vision_projector", "p.gguf")
    assert C("vision_projector", "p.gguf").to_text() == "VISION_PROJECTOR p.gguf"
    assert C("thinking", "start", "<think>").to_text() == "THINKING start <think>"
    with pytest.raises(ValueError):
        Command("nope", ("x",))
    with pytest.raises(ValueError):
        Command("parameter", ("x",))


def test_to_text_order():
    mf = parse_modelfile("AUTHOR me\nMESSAGE user hi\nLICENSE L\nPARAMETER stop s\nPARSER p\nRENDERER r\n"
                         "SYSTEM s1\nTEMPLATE t\nDRAFT d\nADAPTER a\nFROM m\nSYSTEM s2\nREQUIRES 0.14.0\nGPU_LAYERS 1\n")
    assert mf.to_text() == (
        "FROM m\nADAPTER a\nDRAFT d\nTEMPLATE t\nSYSTEM s1\nSYSTEM s2\nRENDERER r\nPARSER p\nPARAMETER stop s\n"
        "LICENSE L\nMESSAGE user hi\nREQUIRES 0.14.0\nGPU_LAYERS 1\nAUTHOR me\n"
    )
    assert parse_modelfile(mf.to_text()).system == mf.system == "s2"
    assert mf.to_text(keep_order=True).startswith("AUTHOR me\nMESSAGE user hi\n")


@pytest.mark.parametrize(
    "value, ok",
    [
        ("plain", True),
        ('a """\nb', False),  # a line ending in """ would close the quote early
        ('"""', True),
        ('x """ \n', False),
        ("a\x00b", False),
        ("a\u00a0b", False),
        ('multi\nline "quote"', True),
    ],
)
def test_can_round_trip(value, ok):
    assert can_round_trip(value) is ok
    if ok:
        assert parse_modelfile(f"FROM x\nSYSTEM {quote(value)}\n").system == value


def _record(**kw):
    base = dict(
        name=types.SimpleNamespace(display="m:latest"), model_path=Path("/store/blobs/sha256-abc"),
        template="{{ .Prompt }}\n", system=" hi", params={"temperature": 0.7, "stop": ["<|eot_id|>", " x"],
                                                          "use_mmap": True},
        license=["MIT", 'a "q"\nb'], messages=[{"role": "user", "content": "hello"}], adapters=[], projector=None,
        settings={},
    )
    base.update(kw)
    return types.SimpleNamespace(**base)


def test_to_modelfile():
    text = to_modelfile(_record())
    assert text == (
        '# Modelfile generated by "mullama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        "# FROM m:latest\n"
        "\n"
        "FROM /store/blobs/sha256-abc\n"
        'TEMPLATE "{{ .Prompt }}\n"\n'
        'SYSTEM " hi"\n'
        "PARAMETER temperature 0.7\n"
        "PARAMETER stop <|eot_id|>\n"
        'PARAMETER stop " x"\n'
        "PARAMETER use_mmap true\n"
        "LICENSE MIT\n"
        'LICENSE """a "q"\nb"""\n'
        "MESSAGE user hello\n"
    )
    mf = parse_modelfile(text)
    assert mf.from_ == "/store/blobs/sha256-abc"
    assert mf.options() == {"temperature": 0.7, "stop": ["<|eot_id|>", " x"], "use_mmap": True}
    assert (mf.template, mf.system, mf.license) == ("{{ .Prompt }}\n", " hi", ["MIT", 'a "q"\nb'])


def test_to_modelfile_adapters_projector_and_settings():
    rec = _record(adapters=[Path("/store/blobs/sha256-ad")], projector=Path("/store/blobs/sha256-pr"),
                  settings={"gpu_layers": 0, "vision_projector": "mm.gguf", "thinking": {"start": "<think>"},
                            "capabilities": {"vision": True}})
    mf = parse_modelfile(to_modelfile(rec))
    assert mf.froms == ["/store/blobs/sha256-abc", "/store/blobs/sha256-pr"]
    assert mf.adapters == ["/store/blobs/sha256-ad"]
    assert mf.settings == {"gpu_layers": 0, "thinking": {"start": "<think>"}, "capabilities": {"vision": True}}


# --------------------------------------------------------------------------------------------
# Round trip: commands → to_text → parse_modelfile → the same commands

_text = st.lists(
    st.one_of(
        st.sampled_from(list(' \t\n\r"#\\') + ['"""', "\r\n", "<think>", "你好", "👋"]),
        st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")),
    ),
    max_size=20,
).map("".join).filter(can_round_trip)
_key = st.text(st.sampled_from("abcxyzABZ019_"), max_size=10)
_bools = st.sampled_from(["true", "false", "1", "0", "yes", "no", "on", "off", "TRUE", "Off"])
_hex = st.text(st.sampled_from("0123456789abcdef"), min_size=64, max_size=64)

_command = st.one_of(
    st.builds(lambda v: F(v), _text),
    st.builds(lambda n, v: C(n, v),
              st.sampled_from(["license", "template", "system", "adapter", "draft", "renderer", "parser", "requires",
                               "author"]), _text),
    st.builds(lambda n, v: C("vision_projector", n + v), st.sampled_from(["./", "a", "/x/"]), _text),
    st.builds(P, _key, _text),
    st.builds(M, st.sampled_from(["system", "user", "assistant"]), _text),
    st.builds(lambda n: C("gpu_layers", str(n)), st.integers(-(2**31), 2**31 - 1)),
    st.builds(lambda b: C("flash_attention", b), _bools),
    st.builds(lambda h: C("digest", "sha256:" + h), _hex),
    st.builds(lambda k, v: C("thinking", k, v), st.sampled_from(["start", "end"]), _text),
    st.builds(lambda b: C("thinking", "enabled", b), _bools),
    st.builds(lambda k, v: C("toolformat", k, v),
              st.sampled_from(["style", "call_start", "call_end", "result_start", "result_end"]), _text),
    st.builds(lambda k, b: C("capability", k, b), st.sampled_from(["json", "tools", "thinking", "vision"]), _bools),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.lists(_command, max_size=12), _text, st.integers(0, 12))
def test_round_trip(commands, model, at):
    commands = list(commands)
    commands.insert(min(at, len(commands)), F(model))  # a parsed Modelfile has a FROM somewhere
    mf = Modelfile(commands)
    assert parse_modelfile(mf.to_text(keep_order=True)).commands == mf.commands
    again = parse_modelfile(mf.to_text())
    assert again.commands == mf.sorted().commands
    assert again.to_text() == mf.to_text()
    assert (again.system, again.template, again.parameters, again.settings) == (
        mf.system, mf.template, mf.parameters, mf.settings)
    # the same through UTF-16 with a BOM
    assert parse_modelfile(b"\xff\xfe" + mf.to_text(keep_order=True).encode("utf-16-le")).commands == mf.commands


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_parse_never_crashes(text):
    try:
        mf = parse_modelfile(text)
    except ModelfileError as e:
        assert e.hint
        assert e.message
    else:
        assert any(c.name == "from" for c in mf.commands)


def test_long_values_parse_in_linear_time():
    big = "x " * 200_000
    mf = parse_modelfile(f'FROM x\nLICENSE """{big}\n' + "\n" * 100_000 + '"""\n')
    assert mf.license[0].startswith("x x")
    e = error('FROM x\nSYSTEM "' + "\n" * 200_000)
    assert e.message == "unexpected EOF" and e.line == 2


def test_format_params_large_numbers_are_fast():
    assert format_params({"temperature": ["0." + "0" * 5000 + "1"]}) == {"temperature": 0.0}
    with pytest.raises(InvalidOption):
        format_params({"temperature": ["1e999999999999"]})
    assert format_params({"temperature": ["1" + "0" * 20 + "e-20"]}) == {"temperature": 1.0}
    assert math.isclose(format_params({"temperature": ["3" * 3000 + "e-3000"]})["temperature"], 0.33333334)
