"""ManagerMetrics: Prometheus figures in a registry of each manager's own."""

from __future__ import annotations


from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mullama_jupyter.core.metrics import ManagerMetrics


def families(m: ManagerMetrics) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    body, content_type = m.render()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    out: dict[str, dict] = {}
    for fam in text_string_to_metric_families(body.decode()):
        out[fam.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in fam.samples}
    return out


def test_every_metric_is_exposed_with_the_prefix_and_parses():
    m = ManagerMetrics()
    fams = families(m)
    described = {row["name"].removesuffix("_total") for row in m.describe()}
    assert described <= set(fams)
    assert all(name.startswith("mullama_") for name in fams)
    assert fams["mullama_info"][("mullama_info", (("version", __import__("mullama_jupyter").__version__),))] == 1
    assert fams["mullama_models_loaded"][("mullama_models_loaded", ())] == 0


def test_registries_are_per_manager_and_never_the_global_one():
    before = set(REGISTRY._names_to_collectors)
    a, b = ManagerMetrics(), ManagerMetrics()  # a second one must not clash with the first
    a.generation("m:1", 5, 7, 0.3, 40.0)
    assert set(REGISTRY._names_to_collectors) == before
    assert families(a)["mullama_tokens_generated"][("mullama_tokens_generated_total", (("model", "m:1"),))] == 7
    assert families(b)["mullama_tokens_generated"] == {}


def test_requests_are_labelled_by_route_class_method_and_status():
    m = ManagerMetrics()
    m.request_started("Chat")
    assert families(m)["mullama_http_requests_active"][("mullama_http_requests_active", (("route", "Chat"),))] == 1
    m.request_finished("Chat", "POST", 200, 0.2)
    m.request_started("Chat")
    m.request_finished("Chat", "POST", 400, 0.001)
    f = families(m)
    total = f["mullama_http_requests"]
    assert total[("mullama_http_requests_total", (("method", "POST"), ("route", "Chat"), ("status", "200")))] == 1
    assert total[("mullama_http_requests_total", (("method", "POST"), ("route", "Chat"), ("status", "400")))] == 1
    hist = f["mullama_http_request_duration_seconds"]
    assert hist[("mullama_http_request_duration_seconds_count", (("method", "POST"), ("route", "Chat")))] == 2
    assert f["mullama_http_requests_active"][("mullama_http_requests_active", (("route", "Chat"),))] == 0


def test_generation_load_queue_and_restarts():
    m = ManagerMetrics()
    m.generation("m:1", prompt_tokens=12, tokens=20, ttft_seconds=0.3, tokens_per_second=42.0)
    m.generation("m:1", prompt_tokens=3, tokens=0, ttft_seconds=0.1, tokens_per_second=0.0)
    m.model_loaded("m:1", 1.5)
    m.model_loaded("m:2", 0.2)
    m.queue_depth("m:1", 3)
    f = families(m)
    model = (("model", "m:1"),)
    assert f["mullama_prompt_tokens"][("mullama_prompt_tokens_total", model)] == 15
    assert f["mullama_tokens_generated"][("mullama_tokens_generated_total", model)] == 20
    ttft = f["mullama_time_to_first_token_seconds"]
    assert ttft[("mullama_time_to_first_token_seconds_count", model)] == 2
    assert ttft[("mullama_time_to_first_token_seconds_bucket", (("le", "0.25"), ("model", "m:1")))] == 1
    tps = f["mullama_tokens_per_second"]  # a generation of nothing has no speed
    assert tps[("mullama_tokens_per_second_count", model)] == 1
    assert tps[("mullama_tokens_per_second_bucket", (("le", "35.0"), ("model", "m:1")))] == 0
    assert tps[("mullama_tokens_per_second_bucket", (("le", "50.0"), ("model", "m:1")))] == 1
    assert f["mullama_models_loaded"][("mullama_models_loaded", ())] == 2
    assert f["mullama_model_load_seconds"][("mullama_model_load_seconds_sum", model)] == 1.5
    assert f["mullama_queue_depth"][("mullama_queue_depth", model)] == 3

    m.runner_restart("m:1")  # a crashed runner is no longer loaded
    m.model_unloaded("m:1")  # reported twice: still counted once
    f = families(m)
    assert f["mullama_models_loaded"][("mullama_models_loaded", ())] == 1
    assert f["mullama_runner_restarts"][("mullama_runner_restarts_total", model)] == 1


def test_openmetrics_on_request():
    body, content_type = ManagerMetrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")
