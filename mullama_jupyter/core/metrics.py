"""What the manager and the routes report for monitoring, as Prometheus metrics.

Each ``ManagerMetrics`` owns a ``CollectorRegistry`` of its own, never prometheus_client's global
one: a process may hold several managers (tests, two Jupyter extensions, an embedded client next to
a server), and each ``/metrics`` must show its own figures without name clashes.

Labels stay bounded: HTTP figures are labelled by the route's class name and method (never the raw
path, whose model names and digests would grow without end), model figures by model name.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from .._version import __version__

PREFIX = "mullama_"

# CPU inference: a small model answers in tens of milliseconds, a 7B one after seconds, and the
# first request also pays the load.
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TOKENS_PER_SECOND_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000)
LOAD_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ManagerMetrics:
    """Hooks called by the manager and the HTTP/WebSocket routes, recorded in ``self.registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.started = time.time()
        self._loaded: set[str] = set()
        self._table: list[dict[str, Any]] = []

        info = self._add(Gauge, "info", "Always 1; the version label says which mullama-jupyter runs", ["version"])
        info.labels(version=__version__).set(1)
        uptime = self._add(Gauge, "uptime_seconds", "Seconds since the manager started")
        uptime.set_function(lambda: time.time() - self.started)

        self.requests = self._add(Counter, "http_requests_total",
                                  "HTTP requests answered, by route class, method and status (WebSocket chats: "
                                  "route ws.ChatSocket, method WS)",
                                  ["route", "method", "status"])
        self.request_seconds = self._add(Histogram, "http_request_duration_seconds",
                                         "Seconds to answer an HTTP request (streams included) or a WebSocket chat, "
                                         "by route class and method", ["route", "method"], buckets=REQUEST_BUCKETS)
        self.active = self._add(Gauge, "http_requests_active",
                                "HTTP requests and WebSocket chats in progress, by route class", ["route"])
        self.prompt_tokens = self._add(Counter, "prompt_tokens_total", "Prompt tokens evaluated, by model", ["model"])
        self.tokens = self._add(Counter, "tokens_generated_total", "Tokens generated, by model", ["model"])
        self.ttft = self._add(Histogram, "time_to_first_token_seconds",
                              "Seconds from a generation's turn to its first token (loading and prompt included), "
                              "by model", ["model"], buckets=TTFT_BUCKETS)
        self.tps = self._add(Histogram, "tokens_per_second", "Generation speed of each request, by model", ["model"],
                             buckets=TOKENS_PER_SECOND_BUCKETS)
        self.models_loaded = self._add(Gauge, "models_loaded", "Models with a running runner process")
        self.load_seconds = self._add(Histogram, "model_load_seconds",
                                      "Seconds to start a runner and load a model, by model", ["model"],
                                      buckets=LOAD_BUCKETS)
        self.queue = self._add(Gauge, "queue_depth", "Requests waiting for a model's runner, by model", ["model"])
        self.restarts = self._add(Counter, "runner_restarts_total",
                                  "Runners that exited unexpectedly (the next request reloads the model), by model",
                                  ["model"])

    def _add(self, kind: Any, name: str, help: str, labels: list[str] | None = None, **kw: Any) -> Any:
        self._table.append({"name": PREFIX + name, "type": kind.__name__.lower(), "labels": list(labels or []),
                            "help": help})
        return kind(PREFIX + name, help, labels or [], registry=self.registry, **kw)

    # ----------------------------------------------------------------- hooks

    def request_started(self, route: str) -> None:
        self.active.labels(route=route).inc()

    def request_finished(self, route: str, method: str, status: int, seconds: float) -> None:
        self.active.labels(route=route).dec()
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.request_seconds.labels(route=route, method=method).observe(seconds)

    def generation(self, model: str, prompt_tokens: int, tokens: int, ttft_seconds: float,
                   tokens_per_second: float) -> None:
        self.prompt_tokens.labels(model=model).inc(max(prompt_tokens, 0))
        self.tokens.labels(model=model).inc(max(tokens, 0))
        self.ttft.labels(model=model).observe(max(ttft_seconds, 0.0))
        if tokens_per_second > 0:  # nothing generated: no speed to speak of
            self.tps.labels(model=model).observe(tokens_per_second)

    def model_loaded(self, model: str, seconds: float) -> None:
        self._loaded.add(model)
        self.models_loaded.set(len(self._loaded))
        self.load_seconds.labels(model=model).observe(seconds)

    def model_unloaded(self, model: str) -> None:
        self._loaded.discard(model)
        self.models_loaded.set(len(self._loaded))

    def runner_restart(self, model: str) -> None:
        # The manager reports a crashed runner only here, not through model_unloaded.
        self.model_unloaded(model)
        self.restarts.labels(model=model).inc()

    def queue_depth(self, model: str, depth: int) -> None:
        self.queue.labels(model=model).set(depth)

    # ----------------------------------------------------------------- exposition

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition text and its content type: Prometheus text 0.0.4 unless ``accept`` (an HTTP
        Accept header) asks for OpenMetrics or a newer text version."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def describe(self) -> list[dict[str, Any]]:
        """Name, type, labels and help of every metric (the table in docs/monitoring.md)."""
        return [dict(row) for row in self._table]
