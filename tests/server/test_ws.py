"""``WS /ws/chat`` with the real model: standalone (a real ``mullama serve`` process, driven by the sync
``websocket-client``), in-process for the API-key and frame-size checks, and under a real Jupyter
server (tornado's client on the server's own loop)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tornado.httpserver
import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from mullama_jupyter.core import native
from mullama_jupyter.core.manager import Manager
from mullama_jupyter.core.store import Store
from mullama_jupyter.server import ws as proto
from mullama_jupyter.server.app import Security, make_app
from tests.conftest import MODEL, free_port

pytestmark = pytest.mark.model

LONG = [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]
SHORT = [{"role": "user", "content": "Say hi."}]


def chat(cid: Any, messages: list[dict[str, str]] = SHORT, n: int = 12, **extra: Any) -> str:
    return json.dumps({"type": "chat", "id": cid, "model": MODEL, "messages": messages,
                       "options": {"temperature": 0, "seed": 1, "num_predict": n}, **extra})


def recv(ws: websocket.WebSocket) -> dict[str, Any]:
    return json.loads(ws.recv())


def until_done(ws: websocket.WebSocket, ids: set[Any]) -> list[dict[str, Any]]:
    """Frames until every id in ``ids`` has its done or error frame."""
    frames, open_ids = [], set(ids)
    while open_ids:
        f = recv(ws)
        frames.append(f)
        if f["type"] in ("done", "error"):
            open_ids.discard(f["id"])
    return frames


def status(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/api/system/status") as r:
        return json.loads(r.read())


def wait_idle(url: str, timeout: float = 5.0) -> float:
    """Seconds until no request is running or waiting on any model."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        q = status(url)["queue"]
        if all(v["active"] == 0 and v["waiting"] == 0 for v in q.values()):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"still busy after {timeout} s: {q}")


@pytest.fixture
def sock(standalone: str):
    ws = websocket.create_connection(standalone.replace("http://", "ws://") + "/ws/chat", timeout=60)
    yield ws
    ws.close()


# ----------------------------------------------------------------------------- pure translation


def test_frames_for_chunks_golden():
    chunk = native.Chunk(content="Hi", thinking="hm", tool_calls=[native.ToolCall("get", {"x": 1}, id="c1")])
    assert proto.chunk_frames("a", chunk) == [
        {"type": "thinking", "id": "a", "content": "hm"},
        {"type": "token", "id": "a", "content": "Hi"},
        {"type": "tool_call", "id": "a", "call": {"id": "c1", "name": "get", "arguments": {"x": 1}}},
    ]
    done = native.Chunk(done=True, done_reason="length", metrics=native.Metrics(1, 0, 3, 4, 5, 6))
    assert proto.chunk_frames(7, done) == [
        {"type": "done", "id": 7, "done_reason": "length", "total_duration": 1, "load_duration": 0,
         "prompt_eval_count": 3, "prompt_eval_duration": 4, "eval_count": 5, "eval_duration": 6},
    ]


def test_chat_frames_use_the_api_chat_validator():
    req = proto.chat_request({"type": "chat", "id": 1, "model": "m", "messages": [{"role": "user", "content": "x"}],
                              "think": True, "format": "json", "keep_alive": "1m", "options": {"num_predict": 3}})
    assert (req.model, req.think, req.format, req.keep_alive) == ("m", True, "json", 60)
    assert req.options == {"num_predict": 3}
    for frame, message in [
        ({"model": "m", "options": {"temperature": "hot"}}, "temperature"),
        ({"model": "m", "think": "very"}, "invalid think value"),
        ({"messages": []}, "model is required"),
    ]:
        with pytest.raises(Exception, match=message):
            proto.chat_request({"type": "chat", "id": 1, **frame})


# ----------------------------------------------------------------------------- standalone


def test_a_chat_streams_tokens_then_done_with_metrics(sock: websocket.WebSocket, standalone: str):
    sock.send(chat("one", n=12))
    frames = until_done(sock, {"one"})
    tokens = [f for f in frames if f["type"] == "token"]
    assert tokens and all(f["id"] == "one" for f in frames)
    assert "".join(f["content"] for f in tokens).strip()
    done = frames[-1]
    assert done["type"] == "done" and done["done_reason"] in ("stop", "length")
    assert 0 < done["eval_count"] <= 12 and done["prompt_eval_count"] > 0 and done["total_duration"] > 0


def test_two_chats_and_a_ping_share_one_socket(sock: websocket.WebSocket):
    sock.send(chat("a", n=16))
    sock.send(chat(2, [{"role": "user", "content": "Name a fruit."}], n=8))
    sock.send(json.dumps({"type": "ping", "id": "p"}))
    frames = until_done(sock, {"a", 2})
    # The pong does not wait for either generation; the model's queue serves the chats in turn.
    kinds = [(f["type"], f.get("id")) for f in frames]
    assert kinds.index(("pong", "p")) < kinds.index(("done", "a"))
    for cid in ("a", 2):
        mine = [f for f in frames if f.get("id") == cid]
        assert mine[-1]["type"] == "done" and [f for f in mine if f["type"] == "token"]
    text = {cid: "".join(f["content"] for f in frames if f["type"] == "token" and f["id"] == cid) for cid in ("a", 2)}
    assert text["a"] != text[2]


def test_cancel_stops_the_generation(sock: websocket.WebSocket, standalone: str):
    sock.send(chat("long", LONG, n=1000))
    first = recv(sock)
    assert first["type"] == "token" and first["id"] == "long"
    sock.send(json.dumps({"type": "cancel", "id": "long"}))
    frames = until_done(sock, {"long"})
    assert frames[-1] == {"type": "done", "id": "long", "done_reason": "cancelled"}
    assert wait_idle(standalone) < 2
    # The id is free again, and the runner serves the next chat without finishing the 1000 tokens first
    # (generous bound: the machine may be busy).
    t0 = time.monotonic()
    sock.send(chat("long", n=4))
    assert until_done(sock, {"long"})[-1]["type"] == "done"
    assert time.monotonic() - t0 < 30
    sock.send(json.dumps({"type": "cancel", "id": "gone"}))
    assert recv(sock) == {"type": "error", "id": "gone", "message": 'no chat in progress with id "gone"', "status": 404}


def test_a_cancel_right_behind_its_chat(sock: websocket.WebSocket):
    # Both frames are usually read before the chat's task first runs: it must still end with one done frame.
    sock.send(chat("x", LONG, n=200))
    sock.send(json.dumps({"type": "cancel", "id": "x"}))
    assert until_done(sock, {"x"})[-1] == {"type": "done", "id": "x", "done_reason": "cancelled"}
    sock.send(json.dumps({"type": "ping", "id": 1}))
    assert recv(sock) == {"type": "pong", "id": 1}  # nothing else was left in flight


def test_closing_the_socket_cancels_its_chats(standalone: str):
    ws = websocket.create_connection(standalone.replace("http://", "ws://") + "/ws/chat", timeout=60)
    ws.send(chat("long", LONG, n=400))
    assert recv(ws)["type"] == "token"
    assert status(standalone)["queue"][MODEL]["active"] == 1
    ws.close()
    assert wait_idle(standalone) < 2  # 400 tokens would take far longer


def test_bad_frames_get_an_error_and_the_socket_stays_open(sock: websocket.WebSocket):
    cases = [
        ("not json", None, 400, "invalid JSON"),
        ("[1, 2]", None, 400, "expected a JSON object"),
        (json.dumps({"id": "x"}), "x", 400, 'missing "type"'),
        (json.dumps({"type": "shout", "id": "x"}), "x", 400, 'unknown type "shout"'),
        (json.dumps({"type": "chat", "model": MODEL}), None, 400, 'missing "id"'),
        (json.dumps({"type": "chat", "id": True}), None, 400, 'invalid value for "id"'),
        (json.dumps({"type": "chat", "id": "o", "model": MODEL, "options": {"num_ctx": 0}}), "o", 400, "num_ctx"),
        (json.dumps({"type": "chat", "id": "m", "model": "nope:1b", "messages": SHORT}), "m", 404, "nope"),
    ]
    for text, cid, code, message in cases:
        sock.send(text)
        f = recv(sock)
        assert (f["type"], f["id"], f["status"]) == ("error", cid, code), (text, f)
        assert message in f["message"], (text, f)
    sock.send(chat("dup", LONG, n=200))
    assert recv(sock)["type"] == "token"
    sock.send(chat("dup"))
    f = recv(sock)
    while f["type"] == "token":
        f = recv(sock)
    assert (f["type"], f["id"], f["status"]) == ("error", "dup", 409)
    sock.send(json.dumps({"type": "cancel", "id": "dup"}))
    assert until_done(sock, {"dup"})[-1]["done_reason"] == "cancelled"
    sock.send(json.dumps({"type": "ping"}))
    assert recv(sock) == {"type": "pong"}


def test_standalone_refuses_before_the_upgrade(standalone: str):
    url = standalone.replace("http://", "ws://") + "/ws/chat"
    for kwargs in ({"host": "evil.example"}, {"origin": "http://evil.example"}):
        with pytest.raises(websocket.WebSocketBadStatusException) as e:
            websocket.create_connection(url, timeout=10, **kwargs)
        assert e.value.status_code == 403
        assert json.loads(e.value.resp_body)["error"].startswith("forbidden")
    websocket.create_connection(url, timeout=10, origin="http://localhost:8888").close()


async def test_standalone_api_key_is_checked_before_the_upgrade(tmp_path: Path):
    app = make_app(Manager(Store(tmp_path / "store")), Security(api_key="s3cret"))
    app.settings["mullama_ws_max_message"] = 4096
    assert app.settings["websocket_ping_interval"] > 0
    server = tornado.httpserver.HTTPServer(app)
    port = free_port()
    server.listen(port, "127.0.0.1")
    url = f"ws://127.0.0.1:{port}/ws/chat"
    try:
        for headers, query in [({}, ""), ({"Authorization": "Bearer wrong"}, ""), ({}, "?token=wrong")]:
            with pytest.raises(HTTPClientError) as e:
                await websocket_connect(HTTPRequest(url + query, headers=headers))
            assert e.value.code == 401
        for headers, query in [({"Authorization": "Bearer s3cret"}, ""), ({"x-api-key": "s3cret"}, ""),
                               ({}, "?token=s3cret")]:
            conn = await websocket_connect(HTTPRequest(url + query, headers=headers))
            await conn.write_message(json.dumps({"type": "ping"}))
            assert json.loads(await conn.read_message()) == {"type": "pong"}
            conn.close()
        conn = await websocket_connect(HTTPRequest(url + "?token=s3cret"))
        await conn.write_message(json.dumps({"type": "ping", "pad": "x" * 5000}))
        assert await conn.read_message() is None  # over the frame limit: closed with 1009
        assert conn.close_code == 1009
        conn.close()
    finally:
        server.stop()


# ----------------------------------------------------------------------------- Jupyter


@pytest.fixture
def jp_server_config(fresh_store):
    return {
        "ServerApp": {"jpserver_extensions": {"mullama_jupyter": True}},
        "MullamaExtension": {"models_dir": str(fresh_store.root)},
    }


async def frames_until_done(conn: Any, ids: set[Any]) -> list[dict[str, Any]]:
    frames, open_ids = [], set(ids)
    while open_ids:
        text = await conn.read_message()
        assert text is not None, "socket closed"
        f = json.loads(text)
        frames.append(f)
        if f["type"] in ("done", "error"):
            open_ids.discard(f["id"])
    return frames


async def test_jupyter_refuses_without_the_token_before_the_upgrade(jp_ws_fetch, jp_serverapp, jp_http_port,
                                                                    jp_base_url):
    for headers in ({"Authorization": ""}, {"Authorization": "token wrong"}):
        with pytest.raises(HTTPClientError) as e:
            await jp_ws_fetch("mullama", "ws", "chat", headers=headers)
        assert e.value.code == 403
    token = jp_serverapp.identity_provider.token
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}mullama/ws/chat?token={token}"  # as a browser sends it
    conn = await websocket_connect(url)
    await conn.write_message(json.dumps({"type": "ping"}))
    assert json.loads(await conn.read_message()) == {"type": "pong"}
    conn.close()


async def test_jupyter_two_models_interleave_and_cancel(jp_ws_fetch, jp_fetch):
    await jp_fetch("mullama", "api", "copy", method="POST",
                   body=json.dumps({"source": MODEL, "destination": "second:latest"}))
    conn = await jp_ws_fetch("mullama", "ws", "chat")
    try:
        for cid, model in (("load1", MODEL), ("load2", "second:latest")):  # both runners up first
            await conn.write_message(json.dumps({"type": "chat", "id": cid, "model": model}))
        assert [f["done_reason"] for f in await frames_until_done(conn, {"load1", "load2"})] == ["load", "load"]

        await conn.write_message(chat("long", LONG, n=300))
        first = json.loads(await conn.read_message())
        assert (first["type"], first["id"]) == ("token", "long")
        await conn.write_message(json.dumps({**json.loads(chat("short", n=6)), "model": "second:latest"}))
        frames = await frames_until_done(conn, {"short"})
        # Each model has its own runner: the short chat streams while the long one still runs.
        kinds = [(f["type"], f["id"]) for f in frames]
        long_end = [i for i, (t, cid) in enumerate(kinds) if cid == "long" and t != "token"]
        assert kinds[-1] == ("done", "short")
        assert not long_end or long_end[0] > kinds.index(("token", "short")), frames
        if not long_end:
            await conn.write_message(json.dumps({"type": "cancel", "id": "long"}))
            rest = await frames_until_done(conn, {"long"})
            assert rest[-1] == {"type": "done", "id": "long", "done_reason": "cancelled"}

        r = await jp_fetch("mullama", "api", "system", "status")
        assert all(q["active"] == 0 for q in json.loads(r.body)["queue"].values())
    finally:
        conn.close()
