"""Model names, digests and store paths (reliability.md §2.A and §5 cases 1 and 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mullama_jupyter.core.errors import InvalidDigest, InvalidName, InvalidRequest
from mullama_jupyter.core.names import (
    DEFAULT_HOST,
    DEFAULT_NAMESPACE,
    DEFAULT_TAG,
    DIGEST_RE,
    ModelName,
    blob_filename,
    is_gguf_path,
    is_valid_name,
    name_from_filename,
    parse_digest,
    parse_name,
    safe_join,
)

DH, DN, DT = DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG
HEX = "0123456789abcdef" * 4

# Written out again from reliability.md rather than imported, so a loosened pattern in the
# module fails these tests instead of silently agreeing with them.
GRAMMAR = {
    "host": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"),
    "namespace": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"),
    "model": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
    "tag": re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"),
}


# ---------------------------------------------------------------------------------------------
# Names: table

VALID = [
    # input, (host, namespace, model, tag), display, full
    ("llama3.2", (DH, DN, "llama3.2", DT), "llama3.2:latest", f"{DH}/{DN}/llama3.2:latest"),
    ("llama3.2:1b", (DH, DN, "llama3.2", "1b"), "llama3.2:1b", f"{DH}/{DN}/llama3.2:1b"),
    ("user/m:tag", (DH, "user", "m", "tag"), "user/m:tag", f"{DH}/user/m:tag"),
    ("myhost:5000/ns/m:tag", ("myhost:5000", "ns", "m", "tag"), "myhost:5000/ns/m:tag", "myhost:5000/ns/m:tag"),
    # a ":" before the last "/" is a port, not a tag
    ("myhost:5000/ns/m", ("myhost:5000", "ns", "m", DT), "myhost:5000/ns/m:latest", "myhost:5000/ns/m:latest"),
    (
        "hf.co/owner/repo:Q4_K_M",
        ("hf.co", "owner", "repo", "Q4_K_M"),
        "hf.co/owner/repo:Q4_K_M",
        "hf.co/owner/repo:Q4_K_M",
    ),
    # the namespace is kept when the host is not the default, even if the namespace is
    ("hf.co/library/m:t", ("hf.co", DN, "m", "t"), "hf.co/library/m:t", "hf.co/library/m:t"),
    (f"{DH}/{DN}/m:t", (DH, DN, "m", "t"), "m:t", f"{DH}/{DN}/m:t"),
    (f"{DH}/ns/m", (DH, "ns", "m", DT), "ns/m:latest", f"{DH}/ns/m:latest"),
    # defaults compare case-insensitively (Ollama's EqualFold) and are stored canonically
    ("REGISTRY.Ollama.AI/Library/M:T", (DH, DN, "M", "T"), "M:T", f"{DH}/{DN}/M:T"),
    ("a" * 80, (DH, DN, "a" * 80, DT), "a" * 80 + ":latest", f"{DH}/{DN}/" + "a" * 80 + ":latest"),
    ("m:" + "t" * 80, (DH, DN, "m", "t" * 80), "m:" + "t" * 80, f"{DH}/{DN}/m:" + "t" * 80),
    ("h" * 350 + "/n/m", ("h" * 350, "n", "m", DT), "h" * 350 + "/n/m:latest", "h" * 350 + "/n/m:latest"),
    ("_x", (DH, DN, "_x", DT), "_x:latest", f"{DH}/{DN}/_x:latest"),
    ("9-a_b.c:1.0-x_y", (DH, DN, "9-a_b.c", "1.0-x_y"), "9-a_b.c:1.0-x_y", f"{DH}/{DN}/9-a_b.c:1.0-x_y"),
    ("smollm2:135m", (DH, DN, "smollm2", "135m"), "smollm2:135m", f"{DH}/{DN}/smollm2:135m"),
]

INVALID = [
    "",
    " ",
    "\t",
    ":",
    "a:",
    ":b",
    "a/",
    "/a",
    "a//b",
    "a/b/c/d",
    "h/n/m/",
    "../x",
    "x/..",
    "..",
    ".",
    "./x",
    ".hidden",
    "m:.hidden",
    "m:..",
    "http://x/y/z",
    "https://registry.ollama.ai/library/m",
    "http://x",
    "ns.with.dot/m",
    "-x",
    "m:-t",
    "x y",
    " x",
    "x\n",
    "x\r\nFORGED",
    "x%0D%0AFORGED",
    "x\x00",
    "a" * 81,
    "m:" + "t" * 81,
    "n" * 81 + "/m",
    "h" * 351 + "/n/m",
    "m:t:u",  # the rest "m:t" puts ":" in the model
    "host:/m",
    "m@sha256:" + HEX,
    "C:\\x",
    "a\\b",
    "llam\u0430",  # Cyrillic "a": looks like "llama", must not be a different directory
    "\uff4c\uff4c\uff41\uff4d\uff41",  # full-width "llama"
    "mod\u00e8le",
    # hf: specs belong to a separate parser: here "hf:owner" is a namespace with ":", invalid
    "hf:owner/repo",
    "hf:owner/repo:Q4_K_M",
]


@pytest.mark.parametrize(("text", "parts", "display", "full"), VALID)
def test_valid_names(text, parts, display, full):
    name = ModelName.parse(text)
    assert (name.host, name.namespace, name.model, name.tag) == parts
    assert name.manifest_parts() == parts
    assert name.display == display
    assert str(name) == display
    assert name.full == full
    assert parse_name(text) == name
    assert is_valid_name(text)
    assert ModelName.parse(name.display) == name
    assert ModelName.parse(name.full) == name


@pytest.mark.parametrize("text", INVALID)
def test_invalid_names(text):
    with pytest.raises(InvalidName) as exc:
        ModelName.parse(text)
    assert exc.value.message == "invalid model name"
    assert exc.value.name == text
    assert exc.value.status == 400
    assert isinstance(exc.value, InvalidRequest)
    with pytest.raises(InvalidName):
        parse_name(text)
    assert not is_valid_name(text)


@pytest.mark.parametrize("value", [None, 3, b"llama3.2", ["llama3.2"]])
def test_non_string_names_are_invalid(value):
    with pytest.raises(InvalidName):
        parse_name(value)
    assert not is_valid_name(value)


def test_construction_validates_parts():
    # Holding a ModelName must mean its parts are safe path segments, however it was made.
    assert ModelName("h", "n", "m", "t").full == "h/n/m:t"
    for bad in [("h", "n", "..", "t"), ("h", "n", "m", ""), ("h", "n.x", "m", "t"), ("h/x", "n", "m", "t")]:
        with pytest.raises(InvalidName):
            ModelName(*bad)


def test_key_is_case_insensitive():
    assert parse_name("Foo").key == parse_name("foo").key == parse_name("FOO:LATEST").key
    assert parse_name("User/Foo:Q4_K_M").key == parse_name("user/foo:q4_k_m").key
    assert parse_name("Foo") != parse_name("foo")  # the spelling is kept for display
    assert parse_name("foo:a").key != parse_name("foo:b").key
    assert parse_name("x/foo").key != parse_name("foo").key
    assert parse_name("foo").key == (DH, DN, "foo", DT)


def test_model_name_is_hashable_and_frozen():
    name = parse_name("m")
    assert {name, parse_name("m:latest")} == {name}
    with pytest.raises(AttributeError):
        name.model = "x"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Digests (reliability.md §5 case 1)

VALID_DIGESTS = [
    ("sha256:" + HEX, "sha256:" + HEX),
    ("sha256-" + HEX, "sha256:" + HEX),
    ("sha256:" + HEX.upper(), "sha256:" + HEX),
    ("sha256-" + HEX.upper(), "sha256:" + HEX),
]

INVALID_DIGESTS = [
    "sha256:../../x",
    "sha256-../../../etc/passwd",
    "sha256-" + HEX[:63],
    "sha256:" + HEX + "0",
    "sha256:" + "g" * 64,
    "sha256:" + HEX[:32] + "/" + HEX[33:],
    "sha256:" + HEX + "\n",
    "sha256:" + HEX + "/../x",
    " sha256:" + HEX,
    "SHA256:" + HEX,
    "sha512:" + HEX,
    "sha256_" + HEX,
    "sha256" + HEX,
    HEX,
    "sha256:" + "\uff10" * 64,  # full-width digits
    "sha256:",
    "",
    None,
    5,
    b"sha256:" + HEX.encode(),
]


@pytest.mark.parametrize(("digest", "canonical"), VALID_DIGESTS)
def test_valid_digests(digest, canonical):
    assert parse_digest(digest) == canonical
    assert blob_filename(digest) == "sha256-" + HEX


@pytest.mark.parametrize("digest", INVALID_DIGESTS)
def test_invalid_digests(digest):
    with pytest.raises(InvalidDigest) as exc:
        parse_digest(digest)
    assert exc.value.message == "invalid digest format"
    assert exc.value.status == 400
    assert exc.value.digest == digest
    with pytest.raises(InvalidDigest):
        blob_filename(digest)


def test_digest_re_rejects_trailing_newline_with_re_match():
    # Callers may use the exported pattern with plain re.match.
    assert re.match(DIGEST_RE, "sha256:" + HEX)
    assert not re.match(DIGEST_RE, "sha256:" + HEX + "\n")


# ---------------------------------------------------------------------------------------------
# safe_join (Jupyter CVE-2026-35397 and traversal)


@pytest.fixture
def models_root(tmp_path):
    root = tmp_path / "x" / "models"
    (root / "manifests").mkdir(parents=True)
    (tmp_path / "x" / "models_evil").mkdir()
    return root


def test_safe_join_inside(models_root):
    got = safe_join(models_root, "manifests", DH, DN, "m", "latest")
    assert got == models_root.resolve() / "manifests" / DH / DN / "m" / "latest"
    assert safe_join(models_root, "blobs", blob_filename("sha256:" + HEX)).name == "sha256-" + HEX
    # ".." that stays inside is fine: the resolved result is what counts
    assert safe_join(models_root, "a", "..", "b") == models_root.resolve() / "b"


def test_safe_join_rejects_sibling_with_common_prefix(models_root):
    evil = models_root.parent / "models_evil" / "x"
    # the bug being guarded against: a string prefix check passes this path
    assert str(evil).startswith(str(models_root))
    for parts in [("..", "models_evil", "x"), ("../models_evil/x",), (str(evil),)]:
        with pytest.raises(InvalidName):
            safe_join(models_root, *parts)


@pytest.mark.parametrize(
    "parts",
    [
        ("..",),
        ("../..",),
        ("manifests", "..", "..", "x"),
        ("/etc/passwd",),
        ("manifests", "/etc/passwd"),
        (),
        (".",),
        ("",),
        ("a", ".."),
        ("a\x00b",),
    ],
)
def test_safe_join_rejects_escapes(models_root, parts):
    with pytest.raises(InvalidName) as exc:
        safe_join(models_root, *parts)
    # no store location in a message that may reach a client
    assert str(models_root) not in exc.value.message


def test_safe_join_rejects_symlink_out(models_root):
    (models_root / "link").symlink_to(models_root.parent / "models_evil", target_is_directory=True)
    with pytest.raises(InvalidName):
        safe_join(models_root, "link", "x")


def test_safe_join_root_may_be_a_symlink(tmp_path, models_root):
    alias = tmp_path / "alias"
    alias.symlink_to(models_root, target_is_directory=True)
    assert safe_join(alias, "manifests", "m") == models_root.resolve() / "manifests" / "m"


def test_safe_join_relative_root(models_root, monkeypatch):
    monkeypatch.chdir(models_root.parent)
    assert safe_join(Path("models"), "blobs") == models_root.resolve() / "blobs"
    with pytest.raises(InvalidName):
        safe_join(Path("models"), "..", "models_evil")


# ---------------------------------------------------------------------------------------------
# GGUF paths and names for imported files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/abs/model.gguf", True),
        ("/abs/model", True),
        ("./m.gguf", True),
        ("../m", True),
        ("~/models/m", True),
        ("model.gguf", True),
        ("Model.GGUF", True),
        ("dir/model.gguf", True),
        ("llama3.2", False),
        ("llama3.2:1b", False),
        ("user/m:tag", False),
        ("hf:owner/repo", False),
        ("hf:owner/repo:Q4_K_M", False),
        ("hf:owner/repo:file.gguf", False),  # an hf: spec naming a file, not a local path
        ("~user/m", False),
        ("", False),
        (None, False),
    ],
)
def test_is_gguf_path(text, expected):
    assert is_gguf_path(text) is expected


@pytest.mark.parametrize(
    ("stem", "model"),
    [
        ("SmolLM2-135M-Instruct.Q4_1", "smollm2-135m-instruct.q4_1"),
        ("qwen2.5-0.5b-instruct-q4_k_m", "qwen2.5-0.5b-instruct-q4_k_m"),
        ("My Model (v2)", "my-model--v2-"),
        ("--..x", "x"),
        ("_x", "_x"),
        ("..", None),
        ("", None),
        ("-._", "_"),
        ("***", None),
        ("\u00dcn\u00efcode", "n-code"),
        ("a" * 100, "a" * 80),
        ("x\r\nFORGED", "x--forged"),
    ],
)
def test_name_from_filename(stem, model):
    if model is None:
        with pytest.raises(InvalidName):
            name_from_filename(stem)
        return
    name = name_from_filename(stem)
    assert name.manifest_parts() == (DH, DN, model, DT)
    assert parse_name(name.display) == name


@given(st.text())
def test_name_from_filename_gives_valid_names(stem):
    try:
        name = name_from_filename(stem)
    except InvalidName:
        return
    assert GRAMMAR["model"].fullmatch(name.model)
    assert name.model == name.model.lower()
    assert parse_name(name.display) == name


# ---------------------------------------------------------------------------------------------
# Properties: Ollama's FuzzName, and names built from valid parts

NAME_CHARS = "aZ9_-.:/"


def _part_like(alphabet: str, edges: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    # Mostly a part that follows the grammar, so the valid branch runs often; now and then any
    # mix of name characters (empty, leading "." or "-", a stray ":") or a known edge case.
    valid = st.builds(
        lambda head, rest: head + rest,
        st.sampled_from("aZ9_"),
        st.text(alphabet=st.sampled_from(alphabet), max_size=6),
    )
    noisy = st.text(alphabet=st.sampled_from("aZ9_-.:"), max_size=6)
    if edges:
        noisy = noisy | st.sampled_from(edges)
    # one_of drops repeated branches, so weight by sampling: noise about one time in eight.
    return st.sampled_from([valid] * 7 + [noisy]).flatmap(lambda strategy: strategy)


grammar_like = st.builds(
    lambda host, ns, model, tag: (
        (f"{host}/" if host is not None and ns is not None else "")
        + (f"{ns}/" if ns is not None else "")
        + model
        + (f":{tag}" if tag is not None else "")
    ),
    st.none() | _part_like("aZ9_-.:", ("REGISTRY.ollama.ai", "x y")),
    st.none() | _part_like("aZ9_-", ("Library", "a.b")),
    _part_like("aZ9_-.", (".", "..", "A.b", "x y", "x\n")),
    st.none() | _part_like("aZ9_-.", ("..", "latest", "x/y")),
)

names_to_fuzz = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(NAME_CHARS + " \n%\\@"), max_size=30),
    grammar_like,
)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("store") / "models"
    (root / "manifests").mkdir(parents=True)
    return root


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=names_to_fuzz)
def test_fuzz_name(fuzz_root, text):
    try:
        name = ModelName.parse(text)
    except InvalidName as e:
        assert e.message == "invalid model name"
        return
    for kind, part in zip(GRAMMAR, name.manifest_parts()):
        assert GRAMMAR[kind].fullmatch(part), (kind, part)
        assert part not in (".", "..")
    manifests = fuzz_root / "manifests"
    path = safe_join(manifests, *name.manifest_parts())
    assert path.is_relative_to(manifests.resolve())
    assert path.relative_to(manifests.resolve()).parts == name.manifest_parts()
    assert ModelName.parse(name.full) == name
    assert ModelName.parse(name.display) == name
    assert ModelName.parse(name.display).key == name.key


def _part(kind: str) -> st.SearchStrategy[str]:
    return st.from_regex(GRAMMAR[kind], fullmatch=True).filter(lambda p: len(p) <= 24)


@settings(max_examples=500, deadline=None)
@given(
    host=_part("host"),
    ns=_part("namespace"),
    model=_part("model"),
    tag=_part("tag"),
    form=st.sampled_from(["full", "ns", "model", "notag"]),
)
def test_names_from_valid_parts_parse(host, ns, model, tag, form):
    text, expected = {
        "full": (f"{host}/{ns}/{model}:{tag}", (host, ns, model, tag)),
        "ns": (f"{ns}/{model}:{tag}", (DH, ns, model, tag)),
        "model": (f"{model}:{tag}", (DH, DN, model, tag)),
        "notag": (f"{host}/{ns}/{model}", (host, ns, model, DT)),
    }[form]
    assert ModelName.parse(text) == ModelName(*expected)

