"""Embedding throughput of mullama_jupyter.embed against llama-cpp-python, side by side.

Same model file, threads, context and pooling on every side; 2,000 short texts (sentences of 6-14
words, all different):

  direct      llama_cpp.Llama(embedding=True).embed(batch) in this process, batches of --batch
  embedded    mullama_jupyter.embed(texts, cache=False) with a manager in this process (runner child)
  http        the same through `mullama serve` (base64 vectors over HTTP)
  cached      mullama_jupyter.embed(texts) again, every vector from the SQLite cache

Run from the repo root on an idle machine:  python benchmarks/bench_embed.py --texts 2000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WORDS = ("data model notebook river mountain quiet bright market signal paper garden window engine "
         "music winter coffee letter bridge forest planet silver ocean memory thread cloud stone "
         "story table yellow machine city light shadow number method glass travel").split()


def texts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = set()
    while len(out) < n:
        out.add(" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + ".")
    return sorted(out)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3, help="measured runs per side (best and median reported)")
    p.add_argument("--batch", type=int, default=64, help="texts per request on every side (default 64)")
    p.add_argument("--model", default="smollm2:135m")
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()

    from mullama_jupyter.core.pull import pull
    from mullama_jupyter.core.store import Store
    from mullama_jupyter.core.system import physical_cores

    threads = physical_cores()
    data = texts(args.texts)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="mullama-bench-embed-") as tmp:
        os.environ["MULLAMA_CACHE_DIR"] = str(Path(tmp) / "models")
        store = Store(None)
        record = pull(store, args.model, lambda _p: None)
        model_path = str(record.model_path)
        print(f"model {record.name.display} ({Path(model_path).name}), {threads} threads, {len(data)} texts, "
              f"batches of {args.batch}", flush=True)

        import llama_cpp

        llm = llama_cpp.Llama(model_path, embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
                              n_ctx=4096, n_batch=4096, n_ubatch=4096, n_threads=threads, n_threads_batch=threads,
                              verbose=False)

        def direct() -> None:
            for i in range(0, len(data), args.batch):
                llm.embed(data[i:i + args.batch], normalize=True)

        import mullama_jupyter
        from mullama_jupyter.client import Client

        embedded = Client(embedded=True)
        port = free_port()
        log = open(Path(tmp) / "serve.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "mullama_jupyter.cli", "serve", "--port", str(port),
                                 "--threads", str(threads), "--quiet"], stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/api/version", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            http = Client(host=url)
            sides = {
                "direct": direct,
                "embedded": lambda: mullama_jupyter.embed(data, args.model, client=embedded, cache=False,
                                                          batch_size=args.batch, progress=False),
                "http": lambda: mullama_jupyter.embed(data, args.model, client=http, cache=False,
                                                      batch_size=args.batch, progress=False),
            }
            warm = data[:args.batch]  # loads and page-in, without a full pass per side
            llm.embed(warm)
            for client in (embedded, http):
                mullama_jupyter.embed(warm, args.model, client=client, cache=False, progress=False)
            for r in range(args.runs):
                for name, fn in sides.items():
                    results.setdefault(name, []).append(timed(fn))
                print(f"round {r + 1}/{args.runs} done", flush=True)
            # Fill the cache (one more computing pass), then time passes served from it.
            mullama_jupyter.embed(data, args.model, client=embedded, batch_size=args.batch, progress=False)
            results["cached"] = [timed(lambda: mullama_jupyter.embed(data, args.model, client=embedded,
                                                                      batch_size=args.batch, progress=False))
                                 for _ in range(max(args.runs, 3))]
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()
            embedded._embedded.shutdown()  # type: ignore[union-attr]

    base = statistics.median(results["direct"])
    print(f"\n{'side':<10} {'median s':>9} {'rows/s':>9} {'vs direct':>10}")
    summary = {}
    for name, times in results.items():
        med = statistics.median(times)
        summary[name] = {"median_s": med, "rows_per_s": len(data) / med, "vs_direct": base / med}
        print(f"{name:<10} {med:>9.3f} {len(data) / med:>9.0f} {base / med:>9.2f}x")
    print(f"\ncache speed-up over computing (embedded): {statistics.median(results['embedded']) / statistics.median(results['cached']):.0f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"texts": len(data), "batch": args.batch, "threads": threads,
                                               "runs": results, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
