"""The seeds' story, replayed: the execution role lacks dynamodb:PutItem, so each of the three receives of
the seeds' message is denied and it lands in the DLQ; the grant is restored, the DLQ redriven, the order stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from orderctl.demo import DEMO_OVERRIDES, WAIT_SECONDS, Check, print_outcomes
from orderctl.pipeline import DeadLetter, Pipeline
from orderctl.samples import SEED_ORDER, to_json
from orderctl.target import Target
from sandbox.runner import Sandbox

TABLE_WRITE = "dynamodb:PutItem"
T = TypeVar("T")


def _wait(condition: Callable[[], T], seconds: float = WAIT_SECONDS) -> T | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    return None


def _without(document: dict[str, Any], action: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    for statement in copy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in actions if a != action]
    return copy


def run_missing_permission(console: Console, project_dir: Path, stack: str) -> bool:
    console.print(f"[bold]Scenario missing-permission[/]: stack [cyan]{stack}[/], the role without {TABLE_WRITE}")
    with Sandbox(project_dir, stack, DEMO_OVERRIDES) as sandbox:
        assert sandbox.deployment is not None
        [function] = sandbox.deployment.functions.values()
        role = function.role_arn.rsplit("/", 1)[-1]
        pipeline = Pipeline(Target(f"sandbox {sandbox.endpoint.url}", sandbox.outputs, sandbox.endpoint.url))
        iam = sandbox.client("iam")
        [policy_name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
        granted = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        iam.put_role_policy(
            RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(_without(granted, TABLE_WRITE))
        )
        console.print(f"1. deployed; took {TABLE_WRITE} away from role {role}")
        order_id = str(SEED_ORDER["orderId"])
        pipeline.publish([to_json(SEED_ORDER)])
        console.print(f"2. published the seeds' order {order_id}; waiting for its three receives ...")

        def dead_letter() -> DeadLetter | None:
            found = [d for d in pipeline.dead_letters() if f'"orderId": "{order_id}"' in d.order_text]
            return found[0] if found and len(found[0].attempts) >= 3 else None

        letter = _wait(dead_letter)
        denials = [a for a in (letter.attempts if letter else []) if "AccessDenied" in a.reason]
        for attempt in letter.attempts if letter else []:
            console.print(f"   receive {attempt.number}: {attempt.reason}", markup=False)
        iam.put_role_policy(RoleName=role, PolicyName=policy_name, PolicyDocument=json.dumps(granted))
        moved = pipeline.redrive().moved if letter else 0
        console.print(f"3. restored {TABLE_WRITE}; redrove {moved} message(s) from the DLQ")
        stored = _wait(lambda: pipeline.order(order_id)) if letter else None
        checks = [
            Check("order dead-lettered", "yes", "yes" if letter else "no", letter is not None),
            Check("receives denied with AccessDenied", "3", str(len(denials)), len(denials) == 3),
            Check(
                "reason names the action and table",
                f"{TABLE_WRITE} on the table ARN",
                "yes" if letter and sandbox.outputs["tableArn"] in (letter.reason or "") else "no",
                bool(letter and f"{TABLE_WRITE} on resource: {sandbox.outputs['tableArn']}" in (letter.reason or "")),
            ),
            Check("redriven", "1", str(moved), moved == 1),
            Check("order stored after the redrive", "yes", "yes" if stored else "no", stored is not None),
            Check("DLQ empty", "0", str(pipeline.depths().dlq), pipeline.depths().dlq == 0),
        ]
    print_outcomes(console, checks)
    return all(check.ok for check in checks)
