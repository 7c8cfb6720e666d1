"""A content-addressed cache of embedding vectors in one SQLite file.

The key is a sha256 over everything that decides a vector: the model's digest (so a re-pulled or
changed model never serves stale vectors), the options that change the result (dimensions,
normalisation, truncation) and the text. Vectors are float32 blobs. SQLite in WAL mode lets several
kernels share the file; a broken or locked cache never fails an embedding — it is only skipped.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

FILE_NAME = "embeddings.sqlite"
_LOOKUP_CHUNK = 500  # SQLite's bound-parameter limit is 999 on old builds


def cache_key(digest: str, text: str, *, dimensions: int | None, normalize: bool, truncate: bool) -> bytes:
    h = hashlib.sha256()
    h.update(f"{digest}\0{dimensions or 0}\0{int(normalize)}\0{int(truncate)}\0".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.digest()


class EmbeddingCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, dims INTEGER NOT NULL, "
                           "vec BLOB NOT NULL, model TEXT, created REAL)")
                self._db = db
            except (sqlite3.Error, OSError, ValueError) as e:
                log.warning("embedding cache %s unusable (%s); embedding without it", self.path, e)
                return None
        return self._db

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        db = self._conn()
        found: dict[bytes, np.ndarray] = {}
        if db is not None:
            try:
                for i in range(0, len(keys), _LOOKUP_CHUNK):
                    part = list(keys[i:i + _LOOKUP_CHUNK])
                    marks = ",".join("?" * len(part))
                    for key, dims, vec in db.execute(f"SELECT key, dims, vec FROM vectors WHERE key IN ({marks})", part):
                        v = np.frombuffer(vec, dtype="<f4")
                        if v.size == dims:
                            found[bytes(key)] = v
            except sqlite3.Error as e:
                log.warning("embedding cache read failed (%s); recomputing", e)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]], model: str) -> None:
        db = self._conn()
        if db is None:
            return
        now = time.time()
        rows = [(key, int(v.size), np.asarray(v, dtype="<f4").tobytes(), model, now) for key, v in items]
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as e:
            log.warning("embedding cache write failed (%s); the vectors are not kept", e)

    def clear(self) -> int:
        db = self._conn()
        if db is None:
            return 0
        with db:
            return db.execute("DELETE FROM vectors").rowcount

    def __len__(self) -> int:
        db = self._conn()
        return 0 if db is None else int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
