"""PullProgress fed by a real pull of the bundled model into an empty store."""

from __future__ import annotations

from pathlib import Path

import pytest

from mullama_jupyter.client import Client
from mullama_jupyter.core.errors import MullamaError
from mullama_jupyter.core.native import Progress
from mullama_jupyter.widgets import PullProgress
from tests.conftest import MODEL


@pytest.mark.model
def test_a_real_pull_shows_a_bar_per_file_then_a_summary(tmp_path: Path) -> None:
    client = Client(embedded=True, models_dir=str(tmp_path / "empty-store"))
    widget = PullProgress(MODEL)
    figures: list[str] = []
    steps: list[str] = []
    widget.step.observe(lambda c: steps.append(c["new"]), "value")

    def watch(p: Progress) -> Progress:
        if p.digest and p.digest in widget.files and not figures:
            widget.files[p.digest].figures.observe(lambda c: figures.append(c["new"]), "value")
        return p

    widget.follow(watch(p) for p in client.pull(MODEL))

    assert widget.state == "success"
    assert len(widget.files) == 1
    (row,) = widget.files.values()
    assert row.bar.value == row.bar.max == row.total > 50_000_000 and row.bar.bar_style == "success"
    assert widget.total_bytes == row.total
    # While bytes moved: bytes done / total, a speed and an ETA; once done, the size and the time it took.
    assert any(" / " in f and "/s" in f and "ETA" in f for f in figures), figures
    assert "98 MB" in row.figures.value and " in " in row.figures.value
    assert any("verifying sha256 digest" in s for s in steps)
    assert "pulled smollm2:135m" in widget.summary.value and "1 file, 98 MB" in widget.summary.value
    assert widget.step.value == ""
    assert [m["name"] for m in client.list()["models"]] == [MODEL]


def test_a_failed_pull_says_why(tmp_path: Path) -> None:
    client = Client(embedded=True, models_dir=str(tmp_path / "store"))
    widget = PullProgress("hf:nobody/nothing")
    with pytest.raises(MullamaError) as err:
        widget.follow(client.pull("hf:nobody/nothing"))
    assert widget.state == "failed"
    assert "pull failed" in widget.summary.value and err.value.message.split(":")[0] in widget.summary.value


def test_the_magics_interface_still_works() -> None:
    """``%mullama pull`` calls exactly ``PullProgress(spec)``, ``.update(p)``, ``.fail(message)``."""
    widget = PullProgress("x")
    widget.update(Progress("pulling manifest"))
    assert "pulling manifest" in widget.step.value
    widget.update(Progress("pulling abc", digest="sha256:" + "ab" * 32, total=1000, completed=0))
    widget.update(Progress("pulling abc", digest="sha256:" + "ab" * 32, total=1000, completed=400))
    widget.fail("connection reset")
    (row,) = widget.files.values()
    assert row.bar.bar_style == "danger" and "connection reset" in widget.summary.value
    assert "400 B / 1 KB" in row.figures.value
