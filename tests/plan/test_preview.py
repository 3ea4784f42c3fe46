"""`orderctl preview` on real changes to this program: the working tree copied as the deployed version, then
a copy changed as a pull request would change it, planned by sandbox.plan (both versions run under mocks)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orderctl.cli import cli
from orderctl.preview import as_json, lines
from sandbox.plan import Preview, plan_trees
from sandbox.pulumi_engine import Op
from tests.plan.trees import PROJECT_DIR, changed, copy_project, new_table_key, replace_in


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("base") / "project")


def by_name(preview: Preview) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {step.urn.rsplit("::", 1)[1]: (str(step.op), step.diff) for step in preview.changes}


def test_the_same_program_is_all_same(base: Path) -> None:
    preview = plan_trees(base, base, "dev")
    assert preview.changes == []
    assert preview.counts["same"] == len(preview.olds) - 1  # every resource but the root stack
    assert preview.exit_code == 0


def test_config_changes_update_in_place(base: Path) -> None:
    settings = {"functionMemoryMb": "2048", "functionTimeoutSeconds": "60", "batchSize": "5", "maximumConcurrency": "4"}
    preview = plan_trees(base, base, "dev", settings)
    assert by_name(preview) == {
        "orders-processor": ("update", ("memorySize", "timeout")),
        "orders-event-source": ("update", ("batchSize", "scalingConfig")),
        # the derived visibility timeout (6 x 60 s) and, from it, the backlog alarm's threshold
        "orders-queue": ("update", ("visibilityTimeoutSeconds",)),
        "orders-backlog-age": ("update", ("alarmDescription", "threshold")),
    }
    assert preview.exit_code == 0
    explicit = plan_trees(base, base, "dev", {"visibilityTimeoutSeconds": "300"})
    assert by_name(explicit)["orders-queue"] == ("update", ("visibilityTimeoutSeconds",))


def test_renaming_a_component_type_without_an_alias_replaces_the_table_and_is_data_loss(
    base: Path, tmp_path: Path
) -> None:
    def rename(tree: Path) -> None:
        replace_in(tree / "infra/table.py", '"orders:index:OrdersTable"', '"orders:index:OrderTable"')

    preview = plan_trees(base, changed(base, tmp_path, rename), "dev")
    ops = {(str(step.op), step.urn.rsplit("::", 1)[1], step.type) for step in preview.changes}
    assert ("create", "orders-table", "aws:dynamodb/table:Table") in ops
    assert ("delete", "orders-table", "aws:dynamodb/table:Table") in ops
    [loss] = preview.data_loss
    assert (loss.op, loss.type) == (Op.DELETE, "aws:dynamodb/table:Table")
    assert preview.exit_code == 1
    text = "\n".join(lines(preview, {}))
    assert "data loss: delete of orders-table (aws:dynamodb/table:Table) deletes what it holds" in text


def test_the_same_rename_with_an_alias_is_same(base: Path, tmp_path: Path) -> None:
    def rename_with_alias(tree: Path) -> None:
        alias = 'pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="orders:index:OrdersTable")])'
        replace_in(
            tree / "infra/table.py",
            '"orders:index:OrdersTable", name, None, opts)',
            f'"orders:index:OrderTable", name, None, pulumi.ResourceOptions.merge(opts, {alias}))',
        )

    preview = plan_trees(base, changed(base, tmp_path, rename_with_alias), "dev")
    assert preview.changes == []
    assert preview.exit_code == 0


def test_changing_the_tables_key_replaces_it(base: Path, tmp_path: Path) -> None:
    tree = changed(base, tmp_path, new_table_key)
    dev = plan_trees(base, tree, "dev")
    [step] = [step for step in dev.changes if step.type == "aws:dynamodb/table:Table"]
    assert (step.op, step.replace_keys, step.delete_before_replace) == (Op.REPLACE, ("hashKey",), False)
    assert "[replace: ~hashKey]" in "\n".join(lines(dev, {}))
    assert dev.data_loss == [step]
    # The function is told the new table's name, unknown until it exists: an update, not a replacement.
    assert by_name(dev)["orders-processor"] == ("update", ("environment",))
    prod = plan_trees(base, tree, "prod")
    [refused] = prod.refused
    assert refused.refused.startswith('unable to replace resource "urn:pulumi:prod::order-pipeline::')
    assert "as it is currently marked for protection" in refused.refused
    assert prod.data_loss == []  # refused, so nothing is lost; the exit is 1 all the same
    assert prod.exit_code == 1
    assert as_json(prod, {})["refused"] == [refused.refused]


@pytest.fixture(scope="module")
def repository(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the project, its main branch one commit; HEAD changes the table's key."""
    tree = tmp_path_factory.mktemp("repo") / "project"
    shutil.copytree(base, tree)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tree, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "empty")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "deployed")
    git("checkout", "-q", "-b", "change")
    new_table_key(tree)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "new key")
    return tree


def test_orderctl_preview_exit_codes_against_a_git_ref(repository: Path) -> None:
    def preview(*args: str) -> Any:
        return CliRunner().invoke(cli, ["preview", "--project-dir", str(repository), *args])

    # The merge base with main is "deployed": the new key replaces the table, data loss on dev.
    loss = preview("--json")
    assert loss.exit_code == 1, loss.output
    assert json.loads(loss.stdout)["dataLoss"] == [
        "urn:pulumi:dev::order-pipeline::orders:index:OrderPipeline$orders:index:OrdersTable$aws:dynamodb/table:Table::orders-table"
    ]
    same = preview("--base", "HEAD", "--config", "functionMemoryMb=2048")
    assert same.exit_code == 0, same.output
    assert "[diff: ~memorySize]" in same.stdout
    refused = preview("--stack", "prod")
    assert refused.exit_code == 1
    assert "error: unable to replace resource" in refused.stdout


def test_a_ref_that_does_not_exist_is_one_line(repository: Path) -> None:
    result = CliRunner().invoke(cli, ["preview", "--project-dir", str(repository), "--base", "no-such-ref"])
    assert result.exit_code == 1
    assert result.stderr.startswith("orderctl: git rev-parse --verify no-such-ref^{commit}:")


def test_the_example_in_docs_preview_md_is_what_preview_prints(base: Path) -> None:
    doc = (PROJECT_DIR / "docs/preview.md").read_text()
    example = doc.split("```\nPreviewing update (dev)", 1)[1].split("```", 1)[0]
    expected = [line.rstrip() for line in example.splitlines()[1:] if line.strip()]
    printed = [line.rstrip() for line in lines(plan_trees(base, base, "dev", DOC_EXAMPLE), {})]
    for line in expected:
        assert any(" ".join(line.split()) == " ".join(got.split()) for got in printed), line


DOC_EXAMPLE = {"functionMemoryMb": "2048", "batchSize": "5"}
