"""What the JupyterLab chat panel costs on top of the server: the same answers, side by side, through the
panel in a real JupyterLab (headless Chromium) and through a plain WebSocket client on the same `/ws/chat`.

    python benchmarks/bench_lab.py --runs 5 --tokens 128

Both sides talk to one JupyterLab server with the mullama extension (the bundled SmolLM2-135M, greedy sampling,
the same prompt ending in "(Take N.)" so every round evaluates new text), one request at a time, alternating
sides. Times are taken where the user sees them: for the panel, in the page (a MutationObserver notes when the
first answer text and the final figures appear, against the moment Enter was pressed); for the client, when the
first token frame and the done frame arrive. Prints medians and panel/client ratios: time to first token
(TTFT), total time, the decode rate (tokens after the first per second) as each side saw it, and the rate the
server measured while it generated (on a small machine, the browser's rendering competes with the model for
the same cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, LAB_TOKEN, launch_lab  # noqa: E402
from tests.conftest import MODEL, pull_into  # noqa: E402

BUILT = ROOT / "mullama_jupyter" / "labextension"
PROMPT = "Explain in a few sentences why the sky is blue."

WATCH = """() => {
  window.__bench = {first: null, done: null};
  const panel = document.querySelector('#mullama-chat');
  const obs = new MutationObserver(() => {
    const answer = panel.querySelector('.jp-mullama-assistant:last-child');
    if (!answer) return;
    const text = (answer.querySelector('.jp-mullama-markdown') || {textContent: ''}).textContent;
    if (text.length && window.__bench.first === null) window.__bench.first = performance.now();
    if (answer.dataset.state === 'done' && window.__bench.done === null) {
      window.__bench.done = performance.now();
      window.__bench.stats = answer.querySelector('.jp-mullama-stats').textContent;
      obs.disconnect();
    }
  });
  obs.observe(panel, {subtree: true, childList: true, characterData: true, attributes: true});
  window.__bench.t0 = performance.now();
}"""


def panel_round(page, prompt: str) -> dict[str, float]:
    page.evaluate("() => window.jupyterapp.commands.execute('mullama:new-chat')")
    box = page.locator("#mullama-chat .jp-mullama-input")
    box.fill(prompt)
    page.evaluate(WATCH)
    box.press("Enter")
    page.wait_for_function("window.__bench.done !== null", timeout=300_000)
    b = page.evaluate("window.__bench")
    tokens = int(b["stats"].split(" ")[0])
    server = float(b["stats"].split(" · ")[1].split(" ")[0])  # the server's own figure, shown under the answer
    ttft, total = (b["first"] - b["t0"]) / 1000, (b["done"] - b["t0"]) / 1000
    return {"ttft": ttft, "total": total, "tokens": tokens, "decode": (tokens - 1) / max(total - ttft, 1e-9),
            "server": server}


def socket_round(url: str, prompt: str, tokens: int) -> dict[str, float]:
    import websocket

    ws = websocket.create_connection(url.replace("http", "ws", 1) + "mullama/ws/chat",
                                     header=[f"Authorization: token {LAB_TOKEN}"])
    try:
        t0 = time.perf_counter()
        ws.send(json.dumps({"type": "chat", "id": "b", "model": MODEL, "messages": [{"role": "user", "content": prompt}],
                            "options": {"temperature": 0, "num_predict": tokens}}))
        first = None
        while True:
            frame = json.loads(ws.recv())
            if frame["type"] == "token" and first is None:
                first = time.perf_counter()
            elif frame["type"] == "done":
                done = time.perf_counter()
                n = frame["eval_count"]
                server = n * 1e9 / frame["eval_duration"]
                break
            elif frame["type"] == "error":
                raise RuntimeError(frame["message"])
    finally:
        ws.close()
    return {"ttft": first - t0, "total": done - t0, "tokens": n, "decode": (n - 1) / max(done - first, 1e-9),
            "server": server}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args()
    if not (BUILT / "package.json").is_file():
        print("build the extension first: cd labextension && npm install && npm run build:prod", file=sys.stderr)
        return 2
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pull_into(root / "store")
        (root / "ext").mkdir()
        (root / "ext" / "mullama-jupyter").symlink_to(BUILT, target_is_directory=True)
        settings = {"mullama-jupyter/plugin": {"defaultModel": MODEL, "temperature": 0, "maxTokens": args.tokens}}
        with launch_lab(root, root / "store", settings=settings, args=(
                f"--LabApp.extra_labextensions_path={root / 'ext'}", "--LabApp.expose_app_in_browser=True")) as lab, \
                sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{lab['url']}lab?token={LAB_TOKEN}")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('mullama:open-chat')",
                                   timeout=120_000)
            page.evaluate("() => window.jupyterapp.restored")
            page.evaluate("() => window.jupyterapp.commands.execute('mullama:open-chat')")
            page.locator("#mullama-chat .jp-mullama-input").wait_for()
            # Warm-up: the model loads on the first request.
            socket_round(lab["url"], PROMPT, args.tokens)
            panel_round(page, PROMPT)
            rows: dict[str, list[dict[str, float]]] = {"client": [], "panel": []}
            for i in range(args.runs):
                prompt = f"{PROMPT} (Take {i + 1}.)"
                order = ["client", "panel"] if i % 2 == 0 else ["panel", "client"]
                for side in order:
                    r = socket_round(lab["url"], prompt, args.tokens) if side == "client" else panel_round(page, prompt)
                    rows[side].append(r)
                    print(f"round {i + 1} {side:6s} ttft {r['ttft'] * 1000:7.1f} ms  total {r['total']:6.2f} s  "
                          f"{r['tokens']} tokens  decode {r['decode']:6.1f} tok/s (server {r['server']:5.1f})", flush=True)
            browser.close()
    keys = ("ttft", "total", "decode", "server", "tokens")
    med = {side: {k: statistics.median(r[k] for r in rs) for k in keys} for side, rs in rows.items()}
    ratio = {k: statistics.median(p[k] / c[k] for p, c in zip(rows["panel"], rows["client"])) for k in keys[:4]}
    print()
    print(f"{'side':28s} {'TTFT ms':>9s} {'total s':>8s} {'seen tok/s':>11s} {'server tok/s':>13s} {'tokens':>7s}")
    for side, label in (("client", "WebSocket client (/ws/chat)"), ("panel", "JupyterLab chat panel")):
        m = med[side]
        print(f"{label:28s} {m['ttft'] * 1000:9.1f} {m['total']:8.2f} {m['decode']:11.1f} {m['server']:13.1f} "
              f"{m['tokens']:7.0f}")
    print(f"{'panel / client (median)':28s} {ratio['ttft']:9.2f} {ratio['total']:8.2f} {ratio['decode']:11.2f} "
          f"{ratio['server']:13.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rows, "median": med, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
