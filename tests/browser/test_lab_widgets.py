"""The widgets in a real JupyterLab, in a real (headless) browser: type, send, watch tokens stream, stop.

Screenshots are kept as artifacts in tests/artifacts/ (and copied to /tmp/mullama-*.png).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import notebook, shoot
from tests.conftest import MODEL

pytestmark = pytest.mark.model
SLOW = 180_000  # ms: kernel start and model load on a busy machine

CHAT_CELL = "from mullama_jupyter.widgets import Chat\nchat = Chat(temperature=0, max_tokens=48)\nchat"
MODELS_CELL = "from mullama_jupyter.widgets import Models\nModels()"
LIVE_TEXT = "((document.querySelector('.mullama-chat .mc-live .mc-body') || {}).textContent || '')"



def run_cell(page: Any, index: int) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def test_chat_and_models_in_jupyterlab(lab: dict[str, Any], page: Any) -> None:
    notebook(lab["root"] / "widgets.ipynb", CHAT_CELL, MODELS_CELL)
    page.goto(f"{lab['url']}lab/tree/widgets.ipynb?token={lab['token']}")
    # The status bar says Idle once the kernel is connected (a cell run before that would be dropped).
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=SLOW)

    run_cell(page, 0)
    chat = page.locator(".mullama-chat")
    chat.wait_for(timeout=SLOW)
    page.wait_for_function(f"document.querySelector('.mullama-chat .mc-model').value === '{MODEL}'")
    assert "server at" in chat.locator(".mc-footer").inner_text()  # the kernel reached the Jupyter server's manager

    # Shift+Enter is a new line, not a send (and not the notebook's run-cell).
    box = chat.locator(".mc-input")
    box.click()
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    assert chat.locator(".mc-msg").count() == 0

    # A complete answer, sent with the button: rendered markdown and the speed after it.
    box.fill("Write a Python function that adds two numbers.")
    chat.locator(".mc-send").click()
    chat.locator(".mc-log > .mc-user").first.wait_for()
    stats = chat.locator(".mc-log > .mc-assistant .mc-stats").first
    stats.wait_for(timeout=SLOW)
    assert "tok/s" in stats.inner_text()
    assert chat.locator(".mc-log > .mc-assistant .mc-body").first.inner_text().strip()

    # A long answer, sent with Enter after raising max tokens in the settings: watch it grow, then stop it.
    chat.locator(".mc-settings > summary").click()
    chat.locator(".mc-max-tokens").fill("400")
    chat.locator(".mc-max-tokens").press("Tab")
    chat.locator(".mc-settings > summary").click()
    box.fill("Now tell me a long story about the sea.")
    box.press("Enter")
    page.wait_for_function(f"{LIVE_TEXT}.length > 0", timeout=SLOW)
    first = len(page.evaluate(LIVE_TEXT))
    page.wait_for_function(f"{LIVE_TEXT}.length > {first} + 40", timeout=SLOW)  # more tokens arrived: it streams
    assert chat.locator(".mc-send").is_hidden()
    shoot(chat, "chat-streaming.png")
    chat.locator(".mc-stop").click()
    stopped = chat.locator(".mc-log > .mc-stopped")
    stopped.wait_for(timeout=60_000)
    page.wait_for_selector(".mullama-chat[data-status='idle']")
    stopped_stats = stopped.locator(".mc-stats").inner_text()
    assert stopped_stats.startswith("stopped") and int(stopped_stats.split(" · ")[1].split()[0]) < 400
    assert stopped.locator(".mc-body").inner_text().strip()
    assert chat.locator(".mc-log > .mc-error").count() == 0
    shoot(chat, "chat.png")

    # The model table, in the same kernel: the chat's model is listed, loaded.
    run_cell(page, 1)
    models = page.locator(".mullama-models")
    models.wait_for(timeout=SLOW)
    assert MODEL in models.inner_text() and "left" in models.inner_text()
    shoot(models, "models.png")
