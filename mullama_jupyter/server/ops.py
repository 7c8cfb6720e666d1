"""Operations routes: ``GET /metrics`` (Prometheus text) and ``GET /api/system/status`` (JSON).

Both sit behind the host's auth like every other route (Jupyter's token; the standalone API key),
so a Prometheus scrape job sends the token as a bearer credential (docs/monitoring.md).
"""

from __future__ import annotations

import asyncio
import os
import time
import weakref
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core import ollama as wire
from ..core.store import Store
from ..core.system import available_memory, physical_cores
from .base import Route

DISK_CACHE_SECONDS = 10.0  # walking a large store costs a little; a dashboard polls every few seconds

_disk_usage: weakref.WeakKeyDictionary[Store, tuple[float, dict[str, int]]] = weakref.WeakKeyDictionary()


def store_usage(root: Path) -> dict[str, int]:
    """Bytes and files under the store root (blobs, manifests and partial downloads alike)."""
    size = files = blobs = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue  # removed while we walked
            size += st.st_size
            files += 1
            blobs += n.startswith("sha256-")
    return {"size": size, "files": files, "blobs": blobs}


async def cached_store_usage(store: Store) -> dict[str, int]:
    now = time.monotonic()
    hit = _disk_usage.get(store)
    if hit is not None and now - hit[0] < DISK_CACHE_SECONDS:
        return hit[1]
    usage = await asyncio.to_thread(store_usage, store.root)
    _disk_usage[store] = (now, usage)
    return usage


class Metrics(Route):
    async def handle_get(self) -> None:
        body, content_type = self.manager.metrics.render(self.request.headers.get("Accept"))
        self.finish_as(content_type, body)


class SystemStatus(Route):
    async def handle_get(self) -> None:
        m = self.manager
        rows = await m.ps()
        queues = m.queues()
        models = await m.list()
        usage = await cached_store_usage(m.store)
        loaded = []
        for row in rows:
            name = row.record.name.display
            loaded.append({
                "name": name, "digest": row.record.digest, "size": row.size, "model_size": row.record.size,
                "context_length": row.context_length, "expires_at": wire.local_time(row.expires_at),
                "pid": row.pid, "threads": queues.get(name, {}).get("threads", 0),
            })
        self.send_json({
            "version": __version__,
            "ollama_version": wire.OLLAMA_VERSION,
            "host": self.settings.get("mullama_runs_in", "unknown"),
            "pid": os.getpid(),
            "started_at": wire.local_time(m.started_at),
            "uptime_secs": round(time.time() - m.started_at, 3),
            "models": {"total": len(models), "loaded": len(rows),
                       "ollama_store": sum(1 for record, _ in models if record.origin == "ollama")},
            "loaded": loaded,
            "queue": {name: {"waiting": q["waiting"], "active": q["active"]} for name, q in queues.items()},
            "threads": {"num_thread": m.config.num_thread, "physical_cores": physical_cores(),
                        "logical_cpus": os.cpu_count() or 0},
            "memory": {"available": available_memory(), "loaded_models": sum(r.size for r in rows)},
            "store": {"path": str(m.store.root), **usage,
                      "ollama_path": str(m.store.ollama.root) if m.store.ollama is not None else None},
            "config": {"keep_alive": m.config.keep_alive if m.config.keep_alive != float("inf") else -1,
                       "max_loaded_models": m.config.max_loaded, "max_queue": m.config.max_queue,
                       "num_ctx": m.config.num_ctx, "engine": m.config.engine},
        })


ROUTES: list[tuple[str, type[Route]]] = [
    (r"/metrics", Metrics),
    (r"/api/system/status", SystemStatus),
]
