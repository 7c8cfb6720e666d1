"""What the manager and the routes report for monitoring. This default records nothing; the
Prometheus implementation replaces it in its own change (same methods)."""

from __future__ import annotations


class ManagerMetrics:
    """Hooks called by the manager and the HTTP routes."""

    def request_started(self, route: str) -> None:
        pass

    def request_finished(self, route: str, method: str, status: int, seconds: float) -> None:
        pass

    def generation(self, model: str, prompt_tokens: int, tokens: int, ttft_seconds: float,
                   tokens_per_second: float) -> None:
        pass

    def model_loaded(self, model: str, seconds: float) -> None:
        pass

    def model_unloaded(self, model: str) -> None:
        pass

    def runner_restart(self, model: str) -> None:
        pass

    def queue_depth(self, model: str, depth: int) -> None:
        pass

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return b"", "text/plain; version=0.0.4; charset=utf-8"
