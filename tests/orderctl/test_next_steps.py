"""The demo's last line: how to run orderctl, which `make demo` installs in .venv, off PATH."""

from orderctl.demo import next_steps


def test_the_demo_says_how_to_run_orderctl_when_it_is_not_on_path() -> None:
    hint = next_steps(on_path=False)
    assert "`.venv/bin/orderctl sandbox up &`" in hint
    assert "source .venv/bin/activate" in hint
    assert "sandbox down" in hint
    assert "`orderctl sandbox up &`" in next_steps(on_path=True)
    assert ".venv" not in next_steps(on_path=True)
