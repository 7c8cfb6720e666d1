"""pandas workflows: text columns to embedding frames, semantic search, similar rows, clusters.

``mullama_jupyter.embed(texts, model)`` takes a list, a Series (its index is kept) or a one-column
DataFrame and returns a DataFrame with one row per text and float32 columns ``emb_0 … emb_{d-1}``
(prefixed, so the frame joins onto the source frame without clashing with its columns); ``attrs``
records the model, its digest and the dimensions. Missing texts (None, NaN, "") give rows of NaN.

Vectors are cached by content (model digest + options + text) in ``embeddings.sqlite`` under the model
store, so re-embedding a column only computes the rows that changed. Identical texts are embedded
once. Batches go to the manager the notebook uses (the Jupyter server's, over HTTP with base64
vectors, or an embedded one); the kernel stays interruptible between batches.

The accessors ``series.mullama`` and ``df.mullama`` are registered when this module is imported,
which ``import mullama_jupyter`` arranges as soon as pandas is imported (in either order).
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .core.embedcache import FILE_NAME, EmbeddingCache, cache_key

PREFIX = "emb_"
DEFAULT_BATCH = 64
PROGRESS_MIN_BATCHES = 4  # fewer batches than this finish before a bar would help

_client: Any = None
_caches: dict[str, EmbeddingCache] = {}
_last_model: dict[str, str] = {}  # column name -> the model last used for it (search defaults to it)


def default_client() -> Any:
    """The client the notebook's magics would use: the Jupyter server's manager, a mullama serve, or embedded."""
    global _client
    if _client is None:
        from .client import Client

        _client = Client()
    return _client


def _cache() -> EmbeddingCache:
    from .core.store import Store

    path = str(Store(None).root / "cache" / FILE_NAME)
    if path not in _caches:
        _caches[path] = EmbeddingCache(path)
    return _caches[path]


# ----------------------------------------------------------------------------- embed


def embed(texts: Any, model: str, *, batch_size: int | None = None, normalize: bool = True,
          dimensions: int | None = None, truncate: bool = True, progress: bool = True, cache: bool = True,
          client: Any = None) -> pd.DataFrame:
    """Embed ``texts`` with ``model``: one row per text, columns ``emb_0…``, float32.

    ``batch_size`` texts go to the model at a time (default 64); ``truncate=False`` makes a text longer
    than the context an error instead of cutting it; ``dimensions`` keeps the first N dimensions
    (re-normalised); ``cache=False`` neither reads nor writes the cache.
    """
    series = _as_series(texts)
    if not isinstance(model, str) or not model:
        raise ValueError("name the embedding model, e.g. embed(texts, 'nomic-embed-text')")
    if batch_size is not None and batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    client = client or default_client()
    digest = model_digest(client, model)

    values = series.to_numpy(dtype=object)
    wanted: dict[str, None] = {}
    for label, v in zip(series.index, values):
        if _missing(v):
            continue
        if not isinstance(v, str):
            raise TypeError(f"row {label!r} holds {type(v).__name__}, not text; convert the column with .astype(str)")
        wanted[v] = None
    unique = list(wanted)

    store = _cache() if cache else None
    keys = {t: cache_key(digest, t, dimensions=dimensions, normalize=normalize, truncate=truncate) for t in unique} \
        if store is not None else {}
    found = store.get_many(list(keys.values())) if store is not None else {}
    vectors: dict[str, np.ndarray] = {t: found[keys[t]] for t in unique if keys and keys[t] in found}
    todo = [t for t in unique if t not in vectors]

    size = batch_size or DEFAULT_BATCH
    bar = _Progress(len(todo), enabled=progress and len(todo) > size * (PROGRESS_MIN_BATCHES - 1), model=model)
    try:
        for i in range(0, len(todo), size):
            batch = todo[i:i + size]
            result = client.embed(model, batch, truncate=truncate, dimensions=dimensions, normalize=normalize)
            got = np.asarray(result.embeddings, dtype=np.float32)
            fresh = dict(zip(batch, got))
            vectors.update(fresh)
            if store is not None:
                store.put_many(((keys[t], v) for t, v in fresh.items()), model)
            bar.advance(len(batch))
    finally:
        bar.close()

    dims = next((v.size for v in vectors.values()), 0)
    matrix = np.full((len(series), dims), np.nan, dtype=np.float32)
    for row, v in enumerate(values):
        if not _missing(v):
            matrix[row] = vectors[v]
    frame = pd.DataFrame(matrix, index=series.index, columns=[f"{PREFIX}{i}" for i in range(dims)])
    frame.attrs["mullama"] = {"model": model, "digest": digest, "dimensions": dims, "normalize": normalize,
                              "truncate": truncate, "computed": len(todo), "cached": len(unique) - len(todo)}
    if series.name is not None:
        _last_model[str(series.name)] = model
    return frame


def model_digest(client: Any, model: str) -> str:
    """The digest that keys the cache: a re-pulled or replaced model gets fresh vectors."""
    wanted = {model, model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"}
    for m in client.list().get("models", []):
        if m.get("name") in wanted or m.get("model") in wanted:
            return str(m["digest"])
    # Not listed under that spelling (an hf: spec, say): show() resolves it, or raises "not found".
    info = client.show(model)
    return "modelfile:" + hashlib.sha256(info.get("modelfile", model).encode()).hexdigest()


def _as_series(texts: Any) -> pd.Series:
    if isinstance(texts, pd.Series):
        return texts
    if isinstance(texts, pd.DataFrame):
        if texts.shape[1] != 1:
            raise ValueError(f"pass one text column, e.g. df['text']; this frame has {texts.shape[1]} columns")
        return texts.iloc[:, 0]
    if isinstance(texts, str):
        return pd.Series([texts])
    if isinstance(texts, (list, tuple, np.ndarray, pd.Index)):
        return pd.Series(list(texts), dtype=object)
    raise TypeError(f"expected texts as a list, a Series or a one-column DataFrame, not {type(texts).__name__}")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT or v == ""


class _Progress:
    """ipywidgets in a notebook, tqdm in a terminal; nothing for a few batches."""

    def __init__(self, total: int, enabled: bool, model: str):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.widget: Any = None
        self.tqdm: Any = None
        if not enabled:
            return
        if _in_notebook():
            import ipywidgets as w
            from IPython.display import display

            self.bar = w.IntProgress(value=0, min=0, max=max(total, 1), description="embedding")
            self.label = w.Label(f"0 / {total} texts · {model}")
            self.widget = w.HBox([self.bar, self.label])
            display(self.widget)
        else:
            from tqdm.auto import tqdm

            self.tqdm = tqdm(total=total, unit="text", desc=f"embedding ({model})", file=sys.stderr, leave=False)

    def advance(self, n: int) -> None:
        self.done += n
        if self.widget is not None:
            rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.value = self.done
            self.label.value = f"{self.done} / {self.total} texts · {rate:.0f}/s"
        elif self.tqdm is not None:
            self.tqdm.update(n)

    def close(self) -> None:
        if self.widget is not None:
            self.bar.bar_style = "success" if self.done >= self.total else "warning"
        if self.tqdm is not None:
            self.tqdm.close()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


# ----------------------------------------------------------------------------- search


def _scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row to ``query``; NaN rows score -inf so they come last."""
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (matrix @ query) / np.where(norms == 0, np.nan, norms)
    return np.where(np.isnan(s), -np.inf, s)


def _top(frame: pd.DataFrame, scores: np.ndarray, k: int, exclude: int | None = None) -> pd.DataFrame:
    if exclude is not None:
        scores = scores.copy()
        scores[exclude] = -np.inf
    order = np.argsort(-scores, kind="stable")
    order = [i for i in order if np.isfinite(scores[i])][:k]
    return frame.iloc[order].assign(score=scores[order].astype(np.float64))


class _Base:
    def _model(self, model: str | None, column: str) -> str:
        model = model or _last_model.get(str(column))
        if not model:
            raise ValueError(f"name the model, e.g. model='nomic-embed-text' (no model has embedded {column!r} yet)")
        return model


@pd.api.extensions.register_series_accessor("mullama")
class SeriesAccessor(_Base):
    """``series.mullama.embed(model)``, ``series.mullama.search(query, k)``."""

    def __init__(self, series: pd.Series):
        self._s = series

    def embed(self, model: str, **kw: Any) -> pd.DataFrame:
        return embed(self._s, model, **kw)

    def search(self, query: str, k: int = 5, model: str | None = None, **kw: Any) -> pd.DataFrame:
        model = self._model(model, str(self._s.name))
        matrix = embed(self._s, model, **kw).to_numpy()
        q = embed([query], model, **{**kw, "progress": False}).to_numpy()[0]
        return _top(self._s.to_frame(), _scores(matrix, q), k)


@pd.api.extensions.register_dataframe_accessor("mullama")
class FrameAccessor(_Base):
    """``df.mullama.embed(column, model)``, ``.search(query, column, k)``, ``.similar(label, k)``, ``.cluster(k)``."""

    def __init__(self, frame: pd.DataFrame):
        self._df = frame

    def _column(self, column: str | None) -> str:
        if column is not None:
            if column not in self._df.columns:
                raise KeyError(f"no column {column!r}; the columns are {list(self._df.columns)}")
            return column
        texts = [c for c in self._df.columns
                 if self._df[c].dtype == object or isinstance(self._df[c].dtype, pd.StringDtype)]
        if len(texts) > 1:  # several text columns: the one embedded before is the one meant
            texts = [c for c in texts if str(c) in _last_model] or texts
        if len(texts) != 1:
            raise ValueError(f"name the text column (column=...): candidates {texts}")
        return texts[0]

    def embed(self, column: str | None = None, model: str | None = None, *, add: bool = False,
              **kw: Any) -> pd.DataFrame:
        """The column's embeddings (index-aligned); ``add=True`` returns a copy of the frame with them appended."""
        column = self._column(column)
        vectors = embed(self._df[column], self._model(model, column), **kw)
        if not add:
            return vectors
        out = self._df.drop(columns=[c for c in self._df.columns if str(c).startswith(PREFIX)]).join(vectors)
        out.attrs["mullama"] = vectors.attrs["mullama"]
        return out

    def search(self, query: str, column: str | None = None, k: int = 5, model: str | None = None,
               **kw: Any) -> pd.DataFrame:
        """The ``k`` rows whose ``column`` is closest in meaning to ``query``, best first, with a ``score``."""
        column = self._column(column)
        model = self._model(model, column)
        matrix = embed(self._df[column], model, **kw).to_numpy()
        q = embed([query], model, **{**kw, "progress": False}).to_numpy()[0]
        return _top(self._df, _scores(matrix, q), k)

    def similar(self, label: Any, k: int = 5, column: str | None = None, model: str | None = None,
                **kw: Any) -> pd.DataFrame:
        """The ``k`` rows closest to row ``label`` (itself excluded)."""
        column = self._column(column)
        matrix = embed(self._df[column], self._model(model, column), **kw).to_numpy()
        pos = self._df.index.get_loc(label)
        if not isinstance(pos, (int, np.integer)):
            raise KeyError(f"row label {label!r} is not unique")
        return _top(self._df, _scores(matrix, matrix[pos]), k, exclude=int(pos))

    def cluster(self, k: int, column: str | None = None, model: str | None = None, *, seed: int = 0,
                iterations: int = 100, **kw: Any) -> pd.Series:
        """k-means on the embeddings (cosine): a cluster number per row (-1 for missing texts)."""
        column = self._column(column)
        matrix = embed(self._df[column], self._model(model, column), **kw).to_numpy().astype(np.float64)
        labels = np.full(len(matrix), -1)
        ok = ~np.isnan(matrix).any(axis=1)
        labels[ok] = _kmeans(_unit(matrix[ok]), k, seed, iterations)
        return pd.Series(labels, index=self._df.index, name="cluster")


def _unit(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(n == 0, 1, n)


def _kmeans(x: np.ndarray, k: int, seed: int, iterations: int) -> np.ndarray:
    if not 1 <= k <= len(x):
        raise ValueError(f"k must be between 1 and the number of texts ({len(x)})")
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(1, k):  # k-means++: spread the starting centres
        d = np.min([1 - x @ c for c in centres], axis=0).clip(0)
        centres.append(x[rng.choice(len(x), p=d / d.sum()) if d.sum() > 0 else rng.integers(len(x))])
    c = np.array(centres)
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iterations):
        new = np.argmax(x @ c.T, axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = x[labels == j]
            if len(members):
                c[j] = _unit(members.mean(axis=0, keepdims=True))[0]
    return labels


__all__: Sequence[str] = ["embed", "SeriesAccessor", "FrameAccessor", "PREFIX"]
