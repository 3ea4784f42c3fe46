"""`make mutate` refuses to run on a test selection that fails before anything is mutated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.mutate import Mutation, check_baselines


def test_a_failing_baseline_stops_the_run_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "test_good.py").write_text("def test_good():\n    assert True\n")
    (tmp_path / "test_broken.py").write_text("def test_broken():\n    assert 1 == 2\n")
    good = Mutation("x.py", "a", "b", "test_good.py")
    check_baselines([good], tmp_path)  # passes: nothing raised
    with pytest.raises(SystemExit, match=r"baseline failed: `pytest test_broken.py` fails without any mutation"):
        check_baselines([good, Mutation("x.py", "a", "b", "test_broken.py")], tmp_path)
    assert "baseline ok" in capsys.readouterr().out
