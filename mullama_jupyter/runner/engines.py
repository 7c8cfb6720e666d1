"""Engines a runner can host: llama.cpp (through llama-cpp-python) and a deterministic echo engine.

``LlamaEngine`` is the only place in the project that imports ``llama_cpp``. ``EchoEngine`` answers
with the prompt's own words, at a configurable pace, and can be told to fail or crash; tests use it
to exercise queues, cancellation and crash recovery through a real child process without paying for
inference.
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import json
import math
import os
import random
import sys
import time
from typing import Any, Callable

from .protocol import pack_vector

# emit(text, logprobs): logprobs is None unless the request asked for them; then one entry per token,
# [token_text, logprob, token_bytes, [[alternative_text, logprob], ...]].
Emit = Callable[..., None]
Done = Callable[[dict[str, Any]], None]


class EngineError(Exception):
    """A request (or a load) failed in a way the parent should report, not a runner bug."""

    def __init__(self, kind: str, message: str, **extra: Any):
        super().__init__(message)
        self.kind = kind
        self.extra = extra


def make_engine(load: dict[str, Any]) -> "LlamaEngine | EchoEngine":
    kind = load.get("engine", "llama")
    if kind == "llama":
        return LlamaEngine(load)
    if kind == "echo":
        return EchoEngine(load)
    raise EngineError("load", f"unknown engine {kind!r}")


class StopFilter:
    """Streams text while holding back anything that could be the start of a stop string."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.held = ""
        self.matched: str | None = None  # the stop string that ended the text (Anthropic reports it)

    def feed(self, text: str) -> tuple[str, bool]:
        """Returns (text safe to emit, whether a stop string was hit)."""
        buf = self.held + text
        if not self.stops:
            self.held = ""
            return buf, False
        hits = [(i, s) for i, s in ((buf.find(s), s) for s in self.stops) if i >= 0]
        if hits:
            self.held = ""
            at, self.matched = min(hits, key=lambda h: h[0])
            return buf[:at], True
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(buf)), 0, -1):
                if buf.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        self.held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        out, self.held = self.held, ""
        return out


def _budget(num_predict: int, n_prompt: int, n_ctx: int) -> int:
    room = n_ctx - n_prompt
    return room if num_predict < 0 else min(num_predict, room)


class LlamaEngine:
    def __init__(self, load: dict[str, Any]):
        import llama_cpp  # the one import of llama.cpp in the project

        self._llama_cpp = llama_cpp
        self.model_path = load["model_path"]
        opts = load["load"]
        self.threads = int(opts["num_thread"])
        self.n_ctx = int(opts["num_ctx"])
        self.n_batch = min(int(opts.get("num_batch", 512)), self.n_ctx)
        self.use_mmap = bool(opts.get("use_mmap", True))
        self.use_mlock = bool(opts.get("use_mlock", False))
        self.pooling = load.get("pooling_type")  # the GGUF's; None for generative models
        adapters = list(opts.get("adapters") or [])
        if len(adapters) > 1:
            raise EngineError("load", "only one ADAPTER per model is supported")
        # num_gpu: Ollama's -1 means "as many as fit"; this build may have no GPU, where it is ignored.
        gpu_layers = int(opts.get("num_gpu", 0) or 0)
        try:
            self.llm = llama_cpp.Llama(
                self.model_path,
                n_ctx=self.n_ctx,
                n_batch=self.n_batch,
                n_ubatch=self.n_batch,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_gpu_layers=-1 if gpu_layers < 0 else gpu_layers,
                use_mmap=self.use_mmap and not adapters,
                use_mlock=self.use_mlock,
                flash_attn=bool(opts.get("flash_attention", False)),
                lora_path=adapters[0] if adapters else None,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            # llama-cpp-python's message names the file's path; keep that in the log, not in the answer.
            print(f"llama.cpp could not load {self.model_path} {adapters}: {e}", file=sys.stderr)
            what = "the model file or its adapter" if adapters else "the model file"
            raise EngineError("load", f"llama.cpp could not load {what} (unsupported or damaged)") from None
        # llama.cpp pads small contexts (to 256); honour the window the user asked for.
        self.n_ctx = min(self.n_ctx, self.llm.n_ctx())
        self._vocab = self.llm._model.vocab
        self._piece = ctypes.create_string_buffer(256)
        self._emb: Any = None
        self._emb_ctx = 0
        self._warm_up()

    def _warm_up(self) -> None:
        # The first decode pays for paging the weights in; do it at load time so it is counted in
        # load_duration, not in the first request's time to first token.
        bos = self.llm.token_bos()
        self.llm.eval([bos if bos >= 0 else 0])
        self.llm.reset()

    def info(self) -> dict[str, Any]:
        m = self.llm._model
        return {
            "engine": "llama",
            "pid": os.getpid(),
            "n_ctx": self.n_ctx,
            "n_ctx_train": m.n_ctx_train(),
            "n_embd": self.llm.n_embd(),
            "n_vocab": self.llm.n_vocab(),
            "threads": self.threads,
            "size": m.size(),
            "add_bos": m.add_bos_token(),
        }

    def _piece_of(self, token: int) -> bytes:
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:  # the buffer is too small for this token; grow it once and retry
            self._piece = ctypes.create_string_buffer(-n)
            n = self._llama_cpp.llama_token_to_piece(self._vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def _keep_prefix_batched(self, tokens: list[int]) -> None:
        """Make llama-cpp-python's prompt-cache reuse evaluate at least two fresh tokens.

        When a prompt is (nearly) all in the KV cache already, llama-cpp-python re-evaluates just the
        last token, alone. A one-token batch takes llama.cpp's matrix-vector path, whose rounding
        differs from the batched path a fresh prompt takes, and that is enough to change a greedy
        (temperature 0) answer: the same request answered twice gave two different texts. Backing
        the cache off by one more token keeps the reuse and makes repeated requests reproducible.
        """
        llm = self.llm
        cached = llm.n_tokens
        if cached == 0 or len(tokens) < 2:
            return
        common = 0
        for a, b in zip(llm.input_ids[:cached], tokens):
            if a != b:
                break
            common += 1
        if common >= len(tokens) - 1:
            llm.n_tokens = len(tokens) - 2

    def _logprob(self, token: int, piece: bytes, top_n: int) -> list[Any]:
        """The sampled token's log probability under the model (before temperature and the other
        samplers, as OpenAI and Ollama report it) and the ``top_n`` likeliest tokens."""
        import numpy as np

        ptr = self._llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self.llm.n_vocab(),)).astype(np.float64)
        peak = logits.max()
        logz = peak + np.log(np.exp(logits - peak).sum())
        entry: list[Any] = [piece.decode("utf-8", errors="replace"), float(logits[token] - logz), list(piece), []]
        if top_n > 0:
            best = np.argpartition(-logits, top_n)[:top_n]
            best = best[np.argsort(-logits[best])]
            entry[3] = [[self._piece_of(int(t)).decode("utf-8", errors="replace"), float(logits[t] - logz)]
                        for t in best]
        return entry

    def _grammar(self, fmt: Any) -> Any:
        if fmt in (None, ""):
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        try:
            if fmt == "json":
                return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
            return LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)
        except Exception as e:  # noqa: BLE001 - a schema we cannot turn into a grammar
            raise EngineError("invalid", f"invalid format: {e}") from None

    def complete(self, req: dict[str, Any], emit: Emit, done: Done, is_cancelled: Callable[[], bool]) -> None:
        llm = self.llm
        o = req["options"]
        t0 = time.perf_counter_ns()
        tokens = list(req.get("prefix_tokens") or [])
        prompt = req.get("prompt") or ""
        if prompt:
            tokens += llm.tokenize(prompt.encode(), add_bos=bool(req.get("add_bos")) and not tokens, special=True)
        n_ctx = self.n_ctx
        if len(tokens) >= n_ctx:
            raise EngineError("context_length", "the input length exceeds the context length",
                              n_tokens=len(tokens), n_ctx=n_ctx)
        budget = _budget(int(o.get("num_predict", -1)), len(tokens), n_ctx)
        seed = int(o.get("seed", -1))
        llm.set_seed(seed & 0xFFFFFFFF if seed >= 0 else random.getrandbits(32))
        last_n = int(o.get("repeat_last_n", 64))
        llm.last_n_tokens_size = n_ctx if last_n < 0 else last_n
        grammar = self._grammar(req.get("format"))
        self._keep_prefix_batched(tokens)

        stops = StopFilter(list(o.get("stop") or []))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        is_eog = self._llama_cpp.llama_vocab_is_eog
        top_n = req.get("logprobs")
        generated: list[int] = []
        reason, hit_stop, t_first = "length", False, 0
        gen = llm.generate(
            tokens,
            top_k=int(o.get("top_k", 40)),
            top_p=float(o.get("top_p", 0.9)),
            min_p=float(o.get("min_p", 0.0)),
            typical_p=float(o.get("typical_p", 1.0)),
            temp=float(o.get("temperature", 0.8)),
            repeat_penalty=float(o.get("repeat_penalty", 1.0)),
            frequency_penalty=float(o.get("frequency_penalty", 0.0)),
            presence_penalty=float(o.get("presence_penalty", 0.0)),
            mirostat_mode=int(o.get("mirostat", 0)),
            mirostat_tau=float(o.get("mirostat_tau", 5.0)),
            mirostat_eta=float(o.get("mirostat_eta", 0.1)),
            grammar=grammar,
        )
        try:
            if budget <= 0:
                gen = iter(())
            for token in gen:
                if not t_first:
                    t_first = time.perf_counter_ns()
                if is_cancelled():
                    reason = "cancel"
                    break
                if is_eog(self._vocab, token):
                    reason = "stop"
                    break
                generated.append(token)
                piece = self._piece_of(token)
                text, hit = stops.feed(decoder.decode(piece))
                if top_n is not None:
                    emit(text, [self._logprob(token, piece, int(top_n))])
                elif text:
                    emit(text)
                if hit:
                    reason, hit_stop = "stop", True
                    break
                if len(generated) >= budget:
                    break
        finally:
            close = getattr(gen, "close", None)
            if close:
                close()
        if reason != "cancel" and not hit_stop:
            tail = stops.flush() + decoder.decode(b"", final=True)
            if tail:
                emit(tail)
        t_end = time.perf_counter_ns()
        t_first = t_first or t_end
        final: dict[str, Any] = {
            "reason": reason,
            "stop_sequence": stops.matched,
            "prompt_eval_count": len(tokens),
            "prompt_eval_duration": t_first - t0,
            "eval_count": len(generated),
            "eval_duration": t_end - t_first,
        }
        if req.get("want_context"):
            final["context"] = tokens + generated
        done(final)

    def _embedder(self, n_ctx: int) -> Any:
        if self._emb is None or self._emb_ctx != n_ctx:
            llama_cpp = self._llama_cpp
            if self._emb is not None:
                self._emb.close()
            pooling = self.pooling if self.pooling not in (None, -1, 0) else llama_cpp.LLAMA_POOLING_TYPE_MEAN
            self._emb = llama_cpp.Llama(
                self.model_path,
                embedding=True,
                pooling_type=pooling,
                n_ctx=n_ctx,
                # llama.cpp pools one sequence within one micro-batch, so the batch must hold a
                # whole input of up to n_ctx tokens.
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_gpu_layers=0,
                use_mmap=self.use_mmap,
                verbose=False,
            )
            self._emb_ctx = n_ctx
        return self._emb

    def embed(self, req: dict[str, Any]) -> dict[str, Any]:
        n_ctx = min(int(req.get("num_ctx") or self.n_ctx), self.llm._model.n_ctx_train() or self.n_ctx)
        emb = self._embedder(n_ctx)
        inputs: list[str] = req["inputs"]
        if not req.get("truncate", True):  # tokenizing costs as much as a short text's embedding: only when needed
            for text in inputs:
                n = len(emb.tokenize(text.encode(), add_bos=True))
                if n > n_ctx:
                    raise EngineError("context_length", "the input length exceeds the context length",
                                      n_tokens=n, n_ctx=n_ctx)
        vectors, count = emb.embed(inputs, normalize=bool(req.get("normalize", True)), truncate=True,
                                   return_count=True)
        return {"vectors": [pack_vector(v) for v in vectors], "prompt_eval_count": count}


class EchoEngine:
    """Deterministic stand-in for tests: streams the prompt's words back.

    engine_options: ``delay`` seconds per token (default 0), ``n_embd`` (default 8). A prompt
    containing ``[[fail]]`` fails before its first token, ``[[crash]]`` aborts the process after
    two tokens — the closest thing to a native crash in llama.cpp.
    """

    active = 0
    max_active = 0

    def __init__(self, load: dict[str, Any]):
        self.opts = load.get("engine_options") or {}
        self.n_ctx = int(load["load"]["num_ctx"])
        self.delay = float(self.opts.get("delay", 0.0))
        self.n_embd = int(self.opts.get("n_embd", 8))
        if self.opts.get("fail_load"):
            raise EngineError("load", "echo engine told to fail its load")

    def info(self) -> dict[str, Any]:
        return {"engine": "echo", "pid": os.getpid(), "n_ctx": self.n_ctx, "n_ctx_train": self.n_ctx,
                "n_embd": self.n_embd, "n_vocab": 0, "threads": 1, "size": 0, "add_bos": False}

    def complete(self, req: dict[str, Any], emit: Emit, done: Done, is_cancelled: Callable[[], bool]) -> None:
        t0 = time.perf_counter_ns()
        prompt = req.get("prompt") or ""
        words = prompt.split()
        if len(words) >= self.n_ctx:
            raise EngineError("context_length", "the input length exceeds the context length",
                              n_tokens=len(words), n_ctx=self.n_ctx)
        if "[[fail]]" in prompt:
            raise EngineError("internal", "echo engine told to fail")
        o = req["options"]
        budget = _budget(int(o.get("num_predict", -1)), len(words), self.n_ctx)
        stops = StopFilter(list(o.get("stop") or []))
        EchoEngine.active += 1
        EchoEngine.max_active = max(EchoEngine.max_active, EchoEngine.active)
        n, reason, t_first = 0, "stop", 0
        try:
            for i, word in enumerate(words[:budget]):
                if is_cancelled():
                    reason = "cancel"
                    break
                if self.delay:
                    time.sleep(self.delay)
                if "[[crash]]" in prompt and i == 2:
                    os.abort()
                t_first = t_first or time.perf_counter_ns()
                n += 1
                text, hit = stops.feed(word + " ")
                if req.get("logprobs") is not None:
                    # Deterministic stand-ins: certainty for the word, nothing else likely.
                    emit(text, [[word + " ", 0.0, list((word + " ").encode()), [[word + " ", 0.0]][: req["logprobs"]]]])
                elif text:
                    emit(text)
                if hit:
                    break
            else:
                if budget < len(words):
                    reason = "length"
        finally:
            EchoEngine.active -= 1
        t_end = time.perf_counter_ns()
        final = {"reason": reason, "stop_sequence": stops.matched, "prompt_eval_count": len(words), "prompt_eval_duration": (t_first or t_end) - t0,
                 "eval_count": n, "eval_duration": t_end - (t_first or t_end), "max_active": EchoEngine.max_active}
        if req.get("want_context"):
            final["context"] = list(range(len(words) + n))
        done(final)

    def embed(self, req: dict[str, Any]) -> dict[str, Any]:
        vectors = []
        for text in req["inputs"]:
            raw = [b - 128 for b in hashlib.sha256(text.encode()).digest()[: self.n_embd]]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            vectors.append(pack_vector([x / norm for x in raw]))
        return {"vectors": vectors, "prompt_eval_count": sum(len(t.split()) for t in req["inputs"])}
