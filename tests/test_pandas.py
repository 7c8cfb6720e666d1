"""Embedding frames, accessors, search and the cache, with the real model (embedded and over HTTP)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mullama_jupyter
from mullama_jupyter.client import Client
from mullama_jupyter.core.embedcache import EmbeddingCache, cache_key
from mullama_jupyter.core.errors import ModelNotFound
from tests.conftest import MODEL

pytestmark = pytest.mark.model

TEXTS = ["The cat sat on the mat.", "Stock markets fell sharply today.", "A kitten is sleeping on a rug.",
         "Interest rates were raised by the central bank.", "Dogs love to play fetch in the park."]


class Counting:
    """A real client that counts what reaches the model."""

    def __init__(self, client):
        self.client, self.calls, self.texts = client, 0, 0

    def embed(self, model, texts, **kw):
        self.calls += 1
        self.texts += len(texts)
        return self.client.embed(model, texts, **kw)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def client(fresh_store, monkeypatch):
    monkeypatch.setenv("MULLAMA_CACHE_DIR", str(fresh_store.root))  # the cache lives under this store
    return Counting(Client(embedded=True, models_dir=str(fresh_store.root)))


@pytest.fixture
def frame():
    return pd.DataFrame({"text": TEXTS, "n": range(5)}, index=[f"r{i}" for i in range(5)])


def test_shapes_dtypes_index_and_attrs(client, frame):
    emb = mullama_jupyter.embed(frame["text"], MODEL, client=client)
    assert emb.shape == (5, 576) and list(emb.index) == list(frame.index)
    assert list(emb.columns[:2]) == ["emb_0", "emb_1"] and set(emb.dtypes) == {np.dtype("float32")}
    assert np.allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=1e-5)
    meta = emb.attrs["mullama"]
    assert meta["model"] == MODEL and len(meta["digest"]) == 64 and meta["dimensions"] == 576
    lst = mullama_jupyter.embed(TEXTS[:2], MODEL, client=client, dimensions=32)
    assert lst.shape == (2, 32) and list(lst.index) == [0, 1]
    # The same vectors as the client gives directly.
    direct = np.asarray(client.client.embed(MODEL, TEXTS[:1]).embeddings[0], dtype=np.float32)
    assert np.allclose(emb.iloc[0].to_numpy(), direct, atol=1e-6)


def test_missing_texts_are_nan_rows_and_duplicates_are_embedded_once(client):
    s = pd.Series(["same text", None, "same text", np.nan, ""], index=list("abcde"))
    emb = mullama_jupyter.embed(s, MODEL, client=client, cache=False)
    assert client.texts == 1
    assert emb.loc[["b", "d", "e"]].isna().all().all() and not emb.loc[["a", "c"]].isna().any().any()
    with pytest.raises(TypeError, match="row 1 holds int"):
        mullama_jupyter.embed(pd.Series(["x", 5]), MODEL, client=client)


def test_the_cache_serves_repeats_and_recomputes_only_changed_rows(client, frame):
    first = mullama_jupyter.embed(frame["text"], MODEL, client=client, batch_size=2)
    assert (client.calls, client.texts) == (3, 5) and first.attrs["mullama"]["computed"] == 5
    again = mullama_jupyter.embed(frame["text"], MODEL, client=client)
    assert (client.calls, client.texts) == (3, 5) and again.attrs["mullama"]["cached"] == 5
    assert np.array_equal(first.to_numpy(), again.to_numpy())
    changed = frame["text"].copy()
    changed.iloc[1] = "Bond yields climbed."
    third = mullama_jupyter.embed(changed, MODEL, client=client)
    assert client.texts == 6 and third.attrs["mullama"]["computed"] == 1
    assert not np.allclose(third.iloc[1], first.iloc[1])
    mullama_jupyter.embed(frame["text"], MODEL, client=client, cache=False)
    assert client.texts == 11  # cache=False computes everything
    mullama_jupyter.embed(frame["text"], MODEL, client=client, dimensions=16)
    assert client.texts == 16  # other options are other cache entries


def test_accessors_search_similar_and_cluster(client, frame, monkeypatch):
    monkeypatch.setattr(mullama_jupyter.pandas, "_client", client)
    emb = frame["text"].mullama.embed(MODEL)
    assert emb.shape == (5, 576)
    both = frame.mullama.embed("text", MODEL, add=True)
    assert list(both.columns[:3]) == ["text", "n", "emb_0"] and len(both) == 5
    # A query equal to a row's text ranks that row first, with a cosine of 1.
    hits = frame.mullama.search(TEXTS[3], k=3)
    assert list(hits.index)[0] == "r3" and hits["score"].iloc[0] == pytest.approx(1.0, abs=1e-4)
    assert hits["score"].is_monotonic_decreasing and list(hits.columns) == ["text", "n", "score"]
    top = frame.mullama.search("a small cat napping", column="text", k=5, model=MODEL)
    assert sorted(top.index) == sorted(frame.index) and top["score"].between(-1, 1).all()
    near = frame.mullama.similar("r0", k=2)
    assert "r0" not in near.index and len(near) == 2
    series_hits = frame["text"].mullama.search(TEXTS[1], k=1)
    assert list(series_hits.index) == ["r1"]
    labels = frame.mullama.cluster(2)
    assert labels.index.equals(frame.index) and set(labels) <= {0, 1}
    with pytest.raises(ValueError, match="name the text column"):
        pd.DataFrame({"a": ["x"], "b": ["y"]}).mullama.search("x", model=MODEL)


def test_errors_name_the_fault(client):
    with pytest.raises(ModelNotFound):
        mullama_jupyter.embed(["x"], "nope:1b", client=client)
    with pytest.raises(ValueError, match="pass one text column"):
        mullama_jupyter.embed(pd.DataFrame({"a": ["x"], "b": ["y"]}), MODEL, client=client)
    with pytest.raises(ValueError, match="name the embedding model"):
        mullama_jupyter.embed(["x"], "", client=client)


def test_over_http_vectors_travel_as_base64(standalone):
    c = Counting(Client(host=standalone))
    emb = mullama_jupyter.embed(TEXTS, MODEL, client=c, cache=False)
    direct = Client(embedded=False, host=standalone).embed(MODEL, TEXTS[:1])
    assert emb.shape == (5, 576) and np.allclose(emb.iloc[0], direct.embeddings[0], atol=1e-6)
    import json
    import urllib.request

    req = urllib.request.Request(standalone + "/api/embed", data=json.dumps(
        {"model": MODEL, "input": ["hi"], "encoding": "base64"}).encode())
    with urllib.request.urlopen(req) as r:
        [packed] = json.loads(r.read())["embeddings"]
    assert isinstance(packed, str) and len(packed) == 3072  # 576 float32 in base64
    raw = mullama_jupyter.embed(["hi"], MODEL, client=c, cache=False, normalize=False)
    assert abs(np.linalg.norm(raw.to_numpy()[0]) - 1) > 0.01  # the pooled vector as the model gives it


def test_cache_file_survives_and_ignores_other_models(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    k1 = cache_key("d1", "text", dimensions=None, normalize=True, truncate=True)
    k2 = cache_key("d2", "text", dimensions=None, normalize=True, truncate=True)
    cache.put_many([(k1, np.arange(4, dtype=np.float32))], "m")
    cache.close()
    again = EmbeddingCache(tmp_path / "c.sqlite")
    got = again.get_many([k1, k2])
    assert list(got) == [k1] and got[k1].tolist() == [0, 1, 2, 3] and (again.hits, again.misses) == (1, 1)
    broken = EmbeddingCache(tmp_path / "not-a-dir" / "\0bad")
    assert broken.get_many([k1]) == {}  # an unusable cache is skipped, never an error


def test_accessors_appear_whichever_is_imported_first():
    code = ("import mullama_jupyter, sys; assert 'pandas' not in sys.modules; import pandas as pd; "
            "assert hasattr(pd.DataFrame(), 'mullama') and hasattr(pd.Series(dtype=object), 'mullama')")
    subprocess.run([sys.executable, "-c", code], check=True)
    subprocess.run([sys.executable, "-c", "import pandas as pd, mullama_jupyter; assert hasattr(pd.DataFrame(), 'mullama')"],
                   check=True)


def test_a_terminal_gets_a_progress_bar_for_many_batches(client, capsys):
    mullama_jupyter.embed(TEXTS, MODEL, client=client, cache=False, batch_size=1)
    assert "embedding (smollm2:135m)" in capsys.readouterr().err
    mullama_jupyter.embed(TEXTS[:2], MODEL, client=client, cache=False, batch_size=1)
    assert capsys.readouterr().err == ""  # a few batches finish before a bar would help
