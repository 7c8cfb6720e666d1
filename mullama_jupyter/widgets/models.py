"""The local models as a table, with pull, unload and remove actions and a refresh."""

from __future__ import annotations

import html
import threading
from typing import Any, Callable

import ipywidgets as widgets

from ..client import Client
from ..core.errors import MullamaError
from ..core.system import human_bytes
from ..display import until
from .pull import PullProgress

COLUMNS = ("Name", "Size", "Family", "Params", "Quant", "Loaded", "")
_WIDTHS = "minmax(150px, 2fr) 70px 70px 80px 60px minmax(150px, 1fr) 176px"

_STYLE = """<style>
.mullama-models { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 10px; max-width: 980px;
  font-family: var(--jp-ui-font-family, system-ui, sans-serif); overflow: hidden; }
.mullama-models .mm-bar { background: var(--jp-layout-color2, #f4f5f7); padding: 6px 10px;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.mullama-models .mm-title { font-weight: 600; }
.mullama-models .mm-muted { color: var(--jp-ui-font-color2, #6e7781); font-size: 0.9em; }
.mullama-models .mm-head { color: var(--jp-ui-font-color2, #6e7781); font-size: 0.8em; text-transform: uppercase;
  letter-spacing: 0.04em; }
.mullama-models .mm-name { font-weight: 600; }
.mullama-models .mm-loaded { color: var(--jp-success-color1, #2e7d32); }
.mullama-models .mm-error { color: var(--jp-error-color1, #d32f2f); }
.mullama-models .mm-grid { padding: 4px 10px 8px; }
</style>"""


class Models(widgets.VBox):
    """``refresh()``, ``pull(spec)``, ``unload(name)``, ``remove(name)``: the buttons call these."""

    def __init__(self, client: Client | None = None):
        self.client = client if client is not None else Client()
        self.rows: list[dict[str, Any]] = []
        self.title = widgets.HTML(f'{_STYLE}<span class="mm-title">Models</span>')
        self.spec = widgets.Text(placeholder="model to pull, e.g. smollm2:135m", layout=widgets.Layout(width="260px"))
        self.pull_button = widgets.Button(description="Pull", button_style="primary", icon="download",
                                          layout=widgets.Layout(width="90px"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="100px"))
        self.pull_button.on_click(lambda _b: self._pull_in_background())
        self.refresh_button.on_click(lambda _b: self.refresh())
        bar = widgets.HBox([self.title, widgets.HBox([], layout=widgets.Layout(flex="1")), self.spec,
                            self.pull_button, self.refresh_button], layout=widgets.Layout(align_items="center"))
        bar.add_class("mm-bar")
        self.grid = widgets.GridBox([], layout=widgets.Layout(grid_template_columns=_WIDTHS, grid_gap="4px 10px",
                                                              align_items="center"))
        self.grid.add_class("mm-grid")
        self.message = widgets.HTML("")
        self.progress_box = widgets.VBox([])
        super().__init__([bar, self.grid, self.progress_box, self.message])
        self.add_class("mullama-models")
        self._busy = threading.Lock()
        self._confirm: str | None = None  # the model whose Remove was clicked once
        self.refresh()

    # ------------------------------------------------------------------- actions

    def refresh(self) -> list[dict[str, Any]]:
        """Read the models and what is loaded again; a failure shows in the widget."""
        try:
            tags = self.client.list()["models"]
            loaded = {m["name"]: m for m in self.client.ps()["models"]}
        except MullamaError as e:
            self._say(f"could not list the models: {e.describe()}", error=True)
            return self.rows
        self.rows = [_row(m, loaded.get(m["name"])) for m in tags]
        self._confirm = None
        self._draw()
        return self.rows

    def pull(self, spec: str) -> None:
        """Pull ``spec`` with a progress widget in the table, then refresh."""
        spec = spec.strip()
        if not spec:
            raise ValueError("nothing to pull: type a model name, e.g. smollm2:135m")
        progress = PullProgress(spec)
        self.progress_box.children = [progress]
        self._say("")
        try:
            progress.follow(self.client.pull(spec))
        finally:
            self.refresh()

    def unload(self, name: str) -> None:
        self.client.unload(name)
        self.refresh()
        self._say(f"unloaded {name}")

    def remove(self, name: str) -> None:
        self.client.delete(name)
        self.refresh()
        self._say(f"removed {name}")

    def __repr__(self) -> str:  # avoid serialising every trait for a repr
        return f"<Models: {len(self.rows)} models>"

    # ------------------------------------------------------------------- drawing

    def _draw(self) -> None:
        cells: list[widgets.Widget] = [_html(f'<span class="mm-head">{c}</span>') for c in COLUMNS]
        for r in self.rows:
            loaded = (f'<span class="mm-loaded">● {html.escape(r["expires"])}</span>' if r["loaded"]
                      else '<span class="mm-muted">—</span>')
            cells += [_html(f'<span class="mm-name">{html.escape(r["name"])}</span>'), _html(human_bytes(r["size"])),
                      _html(html.escape(r["family"])), _html(html.escape(r["parameters"])),
                      _html(html.escape(r["quant"])), _html(loaded), self._actions(r)]
        if not self.rows:
            cells.append(_html('<span class="mm-muted">No models yet: pull one above (smollm2:135m is bundled).</span>'))
        self.grid.children = cells

    def _actions(self, row: dict[str, Any]) -> widgets.HBox:
        name = row["name"]
        unload = widgets.Button(description="Unload", disabled=not row["loaded"], layout=widgets.Layout(width="78px"),
                                tooltip=f"stop {name}'s runner and free its memory")
        remove = widgets.Button(description="Remove", layout=widgets.Layout(width="82px"),
                                tooltip=f"delete {name} from the store")
        unload.on_click(lambda _b: self._guard(lambda: self.unload(name)))

        def on_remove(_b: widgets.Button) -> None:
            if self._confirm != name:  # a second click removes
                self._confirm = name
                remove.description, remove.button_style = "Confirm", "danger"
                self._say(f"click Confirm to delete {name}")
                return
            self._guard(lambda: self.remove(name))

        remove.on_click(on_remove)
        return widgets.HBox([unload, remove])

    def _pull_in_background(self) -> None:
        # A pull can take minutes: run it in a thread so the kernel (and this widget) stay usable.
        spec = self.spec.value
        threading.Thread(target=self._guard, args=(lambda: self.pull(spec),), name="mullama-pull",
                         daemon=True).start()

    def _guard(self, action: Callable[[], None]) -> None:
        """Run a button's action; one at a time, errors shown in the widget."""
        if not self._busy.acquire(blocking=False):
            self._say("another action is running; wait for it to finish", error=True)
            return
        buttons = [self.pull_button, self.refresh_button]
        try:
            for b in buttons:
                b.disabled = True
            action()
        except (MullamaError, ValueError) as e:
            self._say(e.describe() if isinstance(e, MullamaError) else str(e), error=True)
        finally:
            for b in buttons:
                b.disabled = False
            self._busy.release()

    def _say(self, text: str, error: bool = False) -> None:
        cls = "mm-error" if error else "mm-muted"
        self.message.value = f'<div style="padding: 0 10px 8px"><span class="{cls}">{html.escape(text)}</span></div>' if text else ""


def _row(tag: dict[str, Any], loaded: dict[str, Any] | None) -> dict[str, Any]:
    d = tag.get("details", {})
    return {"name": tag["name"], "size": tag.get("size", 0), "family": d.get("family") or "",
            "parameters": d.get("parameter_size") or "", "quant": d.get("quantization_level") or "",
            "loaded": loaded is not None, "expires": _left(loaded["expires_at"]) if loaded else ""}


def _left(expires_at: str) -> str:
    """"4 minutes left", "kept loaded", "unloading": short enough for the table's column."""
    text = until(expires_at)
    if text == "Forever":
        return "kept loaded"
    if text.startswith("Stopping"):
        return "unloading"
    return text.replace(" from now", " left")


def _html(value: str) -> widgets.HTML:
    return widgets.HTML(value)
