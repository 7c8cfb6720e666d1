"""The JupyterLab extension (labextension/) in a real JupyterLab under a non-root base URL with token auth,
driven in Debian's Chromium: the chat panel (shortcut, streaming, code-block actions, active-cell context,
Stop, several conversations, history across a reload) and the models panel (details, Modelfile, unload, a pull
from the loopback fake hub with its progress bar moving, remove, errors inline).

Screenshots (light and dark themes) are kept in tests/artifacts/lab-*.png.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import launch_lab, notebook, shoot
from tests.conftest import MODEL, REPO, http_call, pull_into, scripted_store
from tests.fakehf import hf_env, start_fake_hub
from tests.gguf_factory import tiny_llama_bytes

pytestmark = pytest.mark.model

BUILT = REPO / "mullama_jupyter" / "labextension"
HUB_REPO = "test-org/Padded-GGUF"
HUB_FILE = "padded-Q8_0.gguf"
PULL_SIZE = 24_000_000  # bytes: big enough for the bar to be caught half way
SLOW = 180_000  # ms: model load and prompt on a busy machine


def extension_args(root: Path) -> tuple[str, ...]:
    """Serve the extension from this checkout's build, whatever copy an install put into share/jupyter."""
    if not (BUILT / "package.json").is_file():
        pytest.fail("the JupyterLab extension is not built: pip install -e '.[test]' builds it (Node.js >= 20), "
                    "or run: cd labextension && npm install && npm run build:prod")
    (root / "ext").mkdir()
    (root / "ext" / "mullama-jupyter").symlink_to(BUILT, target_is_directory=True)
    return f"--LabApp.extra_labextensions_path={root / 'ext'}", "--LabApp.expose_app_in_browser=True"


@pytest.fixture(scope="module")
def labx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("labx")
    args = extension_args(root)
    store = root / "store"
    pull_into(store)
    hub = start_fake_hub()
    # GGUF strings are capped at 16 MiB: two of them make the size.
    half = PULL_SIZE // 2
    padded = tiny_llama_bytes(**{"general.name": "padded", "general.description": "x" * half,
                                 "general.notes": "y" * half})
    hub.add_repo(HUB_REPO, {HUB_FILE: padded})
    notebook(root / "analysis.ipynb", "numbers = [3, 1, 2]\ntotal = sum(numbers)")
    settings = {"mullama-jupyter/plugin": {"defaultModel": MODEL, "temperature": 0, "maxTokens": 200}}
    try:
        with launch_lab(root, store, base_url="/lab-base/", env=hf_env(hub, root / "hf"), settings=settings,
                        args=args) as server:
            yield {**server, "hub": hub}
    finally:
        hub.close()


@pytest.fixture(scope="module")
def echo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """JupyterLab at the root URL with the echo engine: the model "thinker" answers what it is sent, with
    <think> markers split off as thinking."""
    root = tmp_path_factory.mktemp("labecho")
    args = extension_args(root)
    store = scripted_store(root)
    notebook(root / "ctx.ipynb", "secret_value = 41 + 1")
    settings = {"mullama-jupyter/plugin": {"defaultModel": "thinker", "think": True}}
    with launch_lab(root, store.root, settings=settings, args=(
            *args, "--MullamaExtension.engine=echo", '--MullamaExtension.engine_options={"delay": 0.02}')) as server:
        yield server


def shoot_dark(page: Any, name: str) -> None:
    """The whole window in JupyterLab's dark theme, then back to light."""
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
    time.sleep(0.5)  # the theme's stylesheet settles
    shoot(page, name)
    command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'")


def open_lab(page: Any, labx: dict[str, Any], path: str = "lab") -> None:
    page.goto(f"{labx['url']}{path}?token={labx['token']}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('mullama:open-chat')",
                           timeout=SLOW)
    page.evaluate("() => window.jupyterapp.restored")  # commands before the layout is restored get undone
    # The build in this checkout is the one loaded (not a stale copy installed elsewhere).
    config = json.loads(page.locator("#jupyter-config-data").text_content())
    ours = [e for e in config["federated_extensions"] if e["name"] == "mullama-jupyter"]
    built = json.loads((BUILT / "package.json").read_text())["jupyterlab"]["_build"]["load"]
    assert ours and ours[0]["load"] == built


def run_from_palette(page: Any, query: str, command_id: str) -> None:
    """Ctrl+Shift+C, type, Enter on the command's entry. Just after a page load JupyterLab's own panels take
    the focus back now and then (and the modal palette closes when it loses it): try again when that happens."""
    item = f".lm-CommandPalette-item.lm-mod-active[data-command='{command_id}']"
    for _ in range(10):
        page.keyboard.press("Control+Shift+C")
        time.sleep(0.3)
        if page.evaluate("document.activeElement.classList.contains('lm-CommandPalette-input')"):
            page.keyboard.type(query)
            for _ in range(10):  # the entry may not be the first: move to it
                time.sleep(0.1)
                if page.locator(item).count():
                    page.keyboard.press("Enter")
                    return
                if not page.evaluate("document.activeElement.classList.contains('lm-CommandPalette-input')"):
                    break
                page.keyboard.press("ArrowDown")
        page.keyboard.press("Escape")
    raise AssertionError(f"could not run {command_id} from the command palette")


def command(page: Any, name: str, args: dict[str, Any] | None = None) -> None:
    page.evaluate("([name, args]) => window.jupyterapp.commands.execute(name, args)", [name, args or {}])


def server_models(labx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status, body = http_call(labx["url"] + "mullama/api/models",
                             headers={"Authorization": f"token {labx['token']}"})
    assert status == 200
    return {m["name"]: m for m in json.loads(body)["models"]}


def lengths_while_streaming(page: Any, selector: str, until: str, seconds: float) -> list[int]:
    """Text lengths of ``selector`` sampled every 50 ms until the page says ``until`` (a JS expression)."""
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        n = page.evaluate(f"(document.querySelector({json.dumps(selector)}) || {{textContent: ''}}).textContent.length")
        if not seen or n != seen[-1]:
            seen.append(n)
        if page.evaluate(until):
            break
        time.sleep(0.05)
    return seen


LAST_ANSWER = ".jp-mullama-assistant:last-child"


def test_chat_panel_streams_stops_and_keeps_its_history(labx: dict[str, Any], page: Any) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    open_lab(page, labx, "lab/tree/analysis.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content").click()

    # The keyboard shortcut opens the panel with the cursor in the message box.
    page.keyboard.press("Control+Shift+Semicolon")
    panel = page.locator("#mullama-chat")
    panel.locator(".jp-mullama-input").wait_for(state="visible")
    assert page.evaluate("document.activeElement.classList.contains('jp-mullama-input')")
    # The settings registry's default model is picked from the live list.
    expect(panel.locator(".jp-mullama-model-select")).to_have_value(MODEL)
    assert MODEL in panel.locator(".jp-mullama-model-select option").all_text_contents()

    # The active cell goes along as context.
    panel.locator(".jp-mullama-include input").check()
    assert panel.locator(".jp-mullama-chip").text_content() == "cell 1 of analysis.ipynb"
    panel.locator(".jp-mullama-input").fill("Write a Python function that adds two numbers.")
    panel.locator(".jp-mullama-input").press("Enter")
    answer = panel.locator(LAST_ANSWER)
    seen = lengths_while_streaming(page, f"#mullama-chat {LAST_ANSWER} .jp-mullama-markdown",
                                   f"!!document.querySelector('#mullama-chat {LAST_ANSWER}[data-state=done]')", 180)
    assert answer.get_attribute("data-state") == "done", panel.inner_text()
    assert len([n for n in seen if n > 0]) >= 3, f"the answer did not stream in pieces: {seen}"
    stats = answer.locator(".jp-mullama-stats").text_content()
    tokens = int(stats.split(" ")[0])
    assert 0 < tokens <= 200 and "tok/s" in stats  # maxTokens from the settings
    context = panel.locator(".jp-mullama-user .jp-mullama-context")
    assert context.locator("summary").text_content() == "cell 1 of analysis.ipynb"
    assert "total = sum(numbers)" in context.locator("pre").text_content()

    # Code blocks: rendered by JupyterLab's Markdown renderer, with Copy and Insert.
    block = answer.locator(".jp-mullama-code").first
    block.wait_for()
    code = block.locator("pre").text_content()
    assert "def " in code
    block.locator("button", has_text="Copy").click()
    assert block.locator("button", has_text="Copied").count() == 1
    shoot(page, "lab-chat-light.png")
    block.locator("button", has_text="Insert").click()
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.nth(1).wait_for()
    assert cells.count() == 2
    assert "def " in cells.nth(1).locator(".cm-content").inner_text()

    # Stop: the answer ends early, marked so, and stops growing.
    panel.locator(".jp-mullama-include input").uncheck()
    panel.locator(".jp-mullama-input").fill("Tell a very long story about a dragon who learns to code.")
    panel.locator(".jp-mullama-input").press("Enter")
    page.wait_for_function(f"(document.querySelector('#mullama-chat {LAST_ANSWER} .jp-mullama-markdown') || "
                           "{textContent: ''}).textContent.length > 40", timeout=SLOW)
    panel.locator(".jp-mullama-stop").click()
    stopped = panel.locator(f"{LAST_ANSWER}[data-state=stopped]")
    stopped.wait_for(timeout=10_000)
    assert stopped.locator(".jp-mullama-stopped").text_content() == "stopped"
    assert stopped.locator(".jp-mullama-retry").text_content() == "Retry"
    length = len(stopped.locator(".jp-mullama-markdown").text_content())
    time.sleep(1)
    assert len(stopped.locator(".jp-mullama-markdown").text_content()) == length
    assert panel.locator(".jp-mullama-send", has_text="Send").count() == 1

    # A second conversation, then back to the first.
    panel.locator(".jp-mullama-new-chat").click()
    assert panel.locator(".jp-mullama-message").count() == 0
    panel.locator(".jp-mullama-input").fill("Say hello.")
    panel.locator(".jp-mullama-input").press("Enter")
    panel.locator(f"{LAST_ANSWER}[data-state=done]").wait_for(timeout=SLOW)
    titles = panel.locator(".jp-mullama-conversation-select option").all_text_contents()
    assert titles == ["Say hello.", "Write a Python function that adds two numbers."]
    panel.locator(".jp-mullama-conversation-select").select_option(label=titles[1])
    assert panel.locator(".jp-mullama-message").count() == 4

    # The history is in the workspace on the server: a reload brings it back.
    command(page, "application:toggle-right-area")  # closed, so that the palette has something to open
    panel.wait_for(state="hidden")
    time.sleep(1.5)  # the panel saves 0.4 s after a change; JupyterLab writes the workspace 0.5 s later
    page.reload()
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.hasCommand('mullama:open-chat')")
    page.evaluate("() => window.jupyterapp.restored")
    assert not panel.is_visible()
    for attempt in range(3):  # Enter can land just as Lab takes the focus back after the load: try again
        run_from_palette(page, "Open Chat", "mullama:open-chat")
        try:
            panel.locator(".jp-mullama-message").first.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's timeout; the last attempt re-raises below
            if attempt == 2:
                raise
    assert panel.locator(".jp-mullama-conversation-select option").all_text_contents() == titles
    assert panel.locator(".jp-mullama-message").count() == 4
    assert panel.locator(".jp-mullama-assistant[data-state=stopped]").count() == 1
    assert "def " in panel.locator(".jp-mullama-assistant .jp-mullama-code pre").first.text_content()

    # Everything the page asked for came from this Jupyter server (or from the page itself).
    origin = labx["url"].split("/lab-base/")[0]
    assert requested and not [u for u in requested if not u.startswith((origin, "data:", "blob:"))]

    shoot_dark(page, "lab-chat-dark.png")


def test_models_panel_pulls_with_progress_and_manages_models(labx: dict[str, Any], page: Any) -> None:
    token = {"Authorization": f"token {labx['token']}"}
    # Load the model, so the panel has something to unload.
    status, _ = http_call(labx["url"] + "mullama/api/generate", "POST",
                          json.dumps({"model": MODEL, "keep_alive": "5m"}).encode(), headers=token)
    assert status == 200
    open_lab(page, labx)
    command(page, "mullama:open-models")
    panel = page.locator("#mullama-models")
    row = panel.locator(f".jp-mullama-model[data-name='{MODEL}']")
    row.wait_for()
    facts = row.locator(".jp-mullama-model-facts").text_content()
    assert facts.startswith("98.4 MB") and "llama" in facts and "Q4_1" in facts, facts
    assert row.locator(".jp-mullama-badge").text_content() == "loaded"

    row.locator("button", has_text="Modelfile").click()
    dialog = page.locator(".jp-Dialog")
    assert "FROM " in dialog.locator(".jp-mullama-modelfile").text_content()
    dialog.locator("button", has_text="Close").click()
    dialog.wait_for(state="detached")

    row.locator("button", has_text="Unload").click()
    row.locator(".jp-mullama-badge").wait_for(state="detached")
    assert not server_models(labx)[MODEL]["loaded"]

    # A pull cancelled half way (the hub pauses there) ends as such and adds no model.
    labx["hub"].stall_after(HUB_REPO, HUB_FILE, PULL_SIZE // 2, seconds=30)
    panel.locator(".jp-mullama-pull-input").fill(f"hf:{HUB_REPO}")
    panel.locator(".jp-mullama-pull-button").click()
    card = panel.locator(f".jp-mullama-pull[data-spec='hf:{HUB_REPO}']")
    bar = card.locator("[role=progressbar]")
    page.wait_for_function("(el) => Number(el.getAttribute('aria-valuenow')) >= 40", arg=bar.element_handle(),
                           timeout=60_000)
    card.locator("button", has_text="Cancel").click()
    expect(card).to_have_class(re.compile(r"jp-mod-cancelled"))
    assert card.locator(".jp-mullama-pull-status").text_content().startswith("cancelled")
    assert len(server_models(labx)) == 1

    # Pulled again, it resumes; the bar moves through the middle while the hub pauses once more.
    labx["hub"].stall_after(HUB_REPO, HUB_FILE, PULL_SIZE // 4, seconds=3)
    panel.locator(".jp-mullama-pull-input").fill(f"hf:{HUB_REPO}")
    panel.locator(".jp-mullama-pull-button").click()
    values: list[float] = []
    shot = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not {"jp-mod-done", "jp-mod-failed"} & set(
            (card.get_attribute("class") or "").split()):
        now = bar.get_attribute("aria-valuenow")
        if now is not None and (not values or float(now) != values[-1]):
            values.append(float(now))
            if 20 < values[-1] < 80 and not shot:
                shoot(panel, "lab-models-pulling-light.png")
                shot = True
        time.sleep(0.05)
    assert "jp-mod-done" in card.get_attribute("class"), card.inner_text()
    assert any(0 < v < 100 for v in values), f"the bar never showed partial progress: {values}, {card.inner_text()}"
    assert values == sorted(values) and float(bar.get_attribute("aria-valuenow")) == 100
    assert card.locator(".jp-mullama-pull-status").text_content().startswith("pulled · 24.0 MB")
    pulled = [name for name in server_models(labx) if name != MODEL]
    assert len(pulled) == 1
    new_row = panel.locator(f".jp-mullama-model[data-name='{pulled[0]}']")
    new_row.wait_for()

    # Chat with it from its row, then remove it: the chat then says what is wrong, inline.
    new_row.locator("button", has_text="Chat").click()
    chat = page.locator("#mullama-chat")
    chat.locator(".jp-mullama-input").wait_for(state="visible")
    expect(chat.locator(".jp-mullama-model-select")).to_have_value(pulled[0])
    assert chat.locator(".jp-mullama-message").count() == 0  # a new conversation, the others untouched
    command(page, "mullama:open-models")
    new_row.locator("button", has_text="Remove").click()
    page.locator(".jp-Dialog button", has_text="Remove").click()
    new_row.wait_for(state="detached")
    assert pulled[0] not in server_models(labx)
    assert MODEL in server_models(labx)  # the shared store kept the other model
    shoot(panel, "lab-models-light.png")

    command(page, "mullama:open-chat")
    assert "(not installed)" in chat.locator(".jp-mullama-model-select option:checked").text_content()
    chat.locator(".jp-mullama-input").fill("Hello?")
    chat.locator(".jp-mullama-input").press("Enter")
    error = chat.locator(f"{LAST_ANSWER}[data-state=error] .jp-mullama-error")
    error.wait_for(timeout=30_000)
    assert pulled[0] in error.text_content() and "not found" in error.text_content()
    assert "pull it in the Models panel" in error.text_content()

    # A pull that cannot succeed says why in its card.
    command(page, "mullama:open-models")
    panel.locator(".jp-mullama-pull-input").fill("hf:nobody/nothing-GGUF")
    panel.locator(".jp-mullama-pull-input").press("Enter")
    failed = panel.locator(".jp-mullama-pull[data-spec='hf:nobody/nothing-GGUF'].jp-mod-failed")
    failed.wait_for(timeout=60_000)
    assert failed.locator(".jp-mullama-pull-spec").text_content() == "hf:nobody/nothing-GGUF"
    assert "does not exist" in failed.locator(".jp-mullama-pull-status").text_content()  # Ollama's words

    shoot_dark(page, "lab-models-dark.png")


def test_thinking_and_the_active_selection_reach_the_model(echo_lab: dict[str, Any], page: Any) -> None:
    open_lab(page, echo_lab, "lab/tree/ctx.ipynb")
    command(page, "mullama:open-chat")
    panel = page.locator("#mullama-chat")
    expect(panel.locator(".jp-mullama-model-select")).to_have_value("thinker:latest")  # the setting says "thinker"

    # Thinking streams into its own block, collapsed once the answer starts.
    panel.locator(".jp-mullama-input").fill("<think> weighing the options </think> The answer is **42**.")
    panel.locator(".jp-mullama-input").press("Enter")
    answer = panel.locator(f"{LAST_ANSWER}[data-state=done]")
    answer.wait_for(timeout=60_000)
    thinking = answer.locator("details.jp-mullama-thinking")
    assert thinking.locator("summary").text_content() == "Thoughts"
    assert thinking.get_attribute("open") is None
    assert "weighing the options" in thinking.locator(".jp-mullama-thinking-text").text_content()
    assert answer.locator(".jp-mullama-markdown strong").text_content() == "42"
    assert "<think>" not in answer.locator(".jp-mullama-markdown").text_content()
    thinking.locator("summary").click()
    shoot(panel, "lab-chat-thinking-light.png")

    # Regenerate asks the same question again in place of the answer.
    answer.locator(".jp-mullama-retry", has_text="Regenerate").click()
    expect(panel.locator(".jp-mullama-message")).to_have_count(2)
    expect(panel.locator(LAST_ANSWER)).to_have_attribute("data-state", "done", timeout=60_000)
    assert panel.locator(f"{LAST_ANSWER} .jp-mullama-markdown strong").text_content() == "42"

    # The selection in the active cell goes to the model with the question (the echo model repeats it).
    page.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    command(page, "mullama:open-chat")
    panel.locator(".jp-mullama-include input").check()
    panel.locator(".jp-mullama-input").fill("What is this?")
    panel.locator(".jp-mullama-input").press("Enter")
    echoed = panel.locator(".jp-mullama-assistant").nth(1)
    expect(echoed).to_have_attribute("data-state", "done", timeout=60_000)
    # The echo engine repeats the prompt's words (newlines become spaces).
    text = echoed.locator(".jp-mullama-markdown").text_content()
    assert "selection in cell 1 of ctx.ipynb" in text and "secret_value = 41 + 1" in text, text
    assert panel.locator(".jp-mullama-context summary").text_content() == "selection in cell 1 of ctx.ipynb"
