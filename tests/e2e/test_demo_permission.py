"""`orderctl demo --scenario missing-permission`: the seeds' story plays out as on AWS, and exits 0."""

from __future__ import annotations

from click.testing import CliRunner

from orderctl.cli import cli


def test_the_missing_permission_scenario_denies_three_receives_then_stores_the_order_after_redrive() -> None:
    result = CliRunner().invoke(cli, ["demo", "--scenario", "missing-permission"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    for receive in (1, 2, 3):
        assert f"receive {receive}: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/" in output
    assert "is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:" in output
    assert "redrove 1 message(s)" in output
    assert "FAILED" not in output
