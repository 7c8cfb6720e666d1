"""The Models table against a real store: list, load/unload, remove with confirmation, pull back."""

from __future__ import annotations

import time

import ipywidgets as widgets
import pytest

from mullama_jupyter.client import Client
from mullama_jupyter.core.store import Store
from mullama_jupyter.widgets import Models
from tests.conftest import MODEL

pytestmark = pytest.mark.model


def buttons(table: Models, name: str) -> dict[str, widgets.Button]:
    cells = list(table.grid.children)
    for i, cell in enumerate(cells):
        if isinstance(cell, widgets.HTML) and f">{name}<" in cell.value:
            actions = cells[i + 6]
            return {b.description: b for b in actions.children}
    raise AssertionError(f"{name} is not in the table")


def test_models_table_and_its_actions(fresh_store: Store) -> None:
    client = Client(embedded=True, models_dir=str(fresh_store.root))
    table = Models(client)
    (row,) = table.rows
    assert (row["name"], row["family"], row["quant"], row["parameters"]) == (MODEL, "llama", "Q4_1", "134.52M")
    assert row["size"] > 50_000_000 and row["loaded"] is False
    assert buttons(table, MODEL)["Unload"].disabled

    client.generate(MODEL, "Hi", options={"num_predict": 1}).text()  # loads it
    table.refresh_button.click()
    assert table.rows[0]["loaded"] is True and table.rows[0]["expires"].endswith(" left")
    unload = buttons(table, MODEL)["Unload"]
    assert not unload.disabled
    unload.click()
    assert table.rows[0]["loaded"] is False and client.ps()["models"] == []
    assert f"unloaded {MODEL}" in table.message.value

    remove = buttons(table, MODEL)["Remove"]
    remove.click()  # the first click asks for confirmation
    assert remove.description == "Confirm" and [r["name"] for r in table.rows] == [MODEL]
    remove.click()
    assert table.rows == [] and client.list()["models"] == []
    assert "No models yet" in table.grid.children[-1].value

    table.spec.value = MODEL
    table.pull_button.click()  # in a background thread
    deadline = time.monotonic() + 120
    while not table.rows:
        assert time.monotonic() < deadline, table.message.value
        time.sleep(0.05)
    assert [r["name"] for r in table.rows] == [MODEL]
    (progress,) = table.progress_box.children
    assert progress.state == "success"


def test_failures_show_in_the_widget(tmp_path) -> None:
    table = Models(Client(embedded=True, models_dir=str(tmp_path / "store")))
    assert table.rows == []
    table.spec.value = "hf:nobody/nothing"
    table.pull_button.click()
    deadline = time.monotonic() + 60
    while "mm-error" not in table.message.value:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "pull failed" in table.progress_box.children[0].summary.value
    assert not table.pull_button.disabled
