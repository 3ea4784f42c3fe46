"""docs/capacity.md's figures are what the model computes now, and its chart is there."""

from __future__ import annotations

from orderctl.capacity_doc import CHART, DOC, answers, current_block, figures


def test_the_docs_figures_equal_what_the_command_computes() -> None:
    assert current_block() == figures(answers()), "stale: run python -m orderctl.capacity_doc"


def test_the_chart_is_a_png_the_doc_shows() -> None:
    assert CHART.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](capacity.png)" in DOC.read_text()
    assert "python -m orderctl.capacity_doc" in DOC.read_text()
