"""`orderctl preview`: what an update from a git ref to the working tree would do, shown as `pulumi preview`
shows it (sandbox.plan makes the plan), with data loss named and, given a running sandbox, counted."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contract import outputs
from sandbox.plan import Preview
from sandbox.pulumi_engine import Op, Step

SYMBOLS = {Op.CREATE: "+", Op.UPDATE: "~", Op.REPLACE: "+-", Op.DELETE: "-", Op.SAME: " "}
SUMMARY = {Op.CREATE: "to create", Op.UPDATE: "to update", Op.REPLACE: "to replace", Op.DELETE: "to delete"}
# What a stateful resource holds, by the stack output that names it.
HOLDS = {
    outputs.TABLE_NAME: "items",
    outputs.QUEUE_URL: "messages",
    outputs.DEAD_LETTER_QUEUE_URL: "messages",
    outputs.SUBSCRIPTION_DEAD_LETTER_QUEUE_URL: "messages",
}

Held = Callable[[str], int]  # a stack output's key -> what the resource it names holds now


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[1]


def plan_label(step: Step) -> str:
    if step.op == Op.REPLACE:
        return "replace (delete-before-replace)" if step.delete_before_replace else "replace (create-before-delete)"
    return str(step.op)


def info(step: Step) -> str:
    marks = []
    if step.op == Op.REPLACE:
        marks.append("[replace: " + ", ".join(f"~{key}" for key in step.replace_keys) + "]")
        others = [key for key in step.diff if key not in step.replace_keys]
        if others:
            marks.append("[diff: " + ", ".join(f"~{key}" for key in others) + "]")
    elif step.op == Op.UPDATE:
        marks.append("[diff: " + ", ".join(f"~{key}" for key in step.diff) + "]")
    if step.old_urn and step.old_urn != step.urn:
        marks.append(f"[aliased from {name_of(step.old_urn)}]")
    if step.retain:
        marks.append("[retain]")
    return " ".join(marks)


def lines(preview: Preview, held: Mapping[str, int | None]) -> list[str]:
    """The preview as text: a line per change, the refusals and data loss, then the summary."""
    text = [f"Previewing update ({preview.stack}) from {preview.base[:12]} to the working tree:", ""]
    changes = preview.changes
    width = max((len(step.type) for step in changes), default=0)
    for step in changes:
        text.append(
            f" {SYMBOLS[step.op]:<3}{step.type:<{width}}  {name_of(step.urn):<34} {plan_label(step):<32} {info(step)}"
        )
    if not changes:
        text.append("  no changes")
    for step in preview.refused:
        text += ["", f"error: {step.refused}"]
    for step in preview.data_loss:
        what = f"data loss: {plan_label(step)} of {name_of(step.urn)} ({step.type}) deletes what it holds"
        count = held.get(step.urn)
        if count is not None:
            unit = HOLDS.get(preview.output_of(step.urn) or "", "items")
            what += f": {count} {unit} in the running sandbox"
        text += ["", what + "; protect it (deletionProtection), add an alias, or acknowledge the loss"]
    counts = preview.counts
    text += ["", "Resources:"]
    for op, label in SUMMARY.items():
        if counts[str(op)]:
            text.append(f"    {SYMBOLS[op]:<2}{counts[str(op)]} {label}")
    changed = sum(counts[str(op)] for op in SUMMARY)
    text.append(f"    {changed} changes. {counts[str(Op.SAME)]} unchanged")
    return text


def as_json(preview: Preview, held: Mapping[str, int | None]) -> dict[str, Any]:
    return {
        "stack": preview.stack,
        "base": preview.base,
        "steps": [
            {
                "urn": step.urn,
                "type": step.type,
                "name": name_of(step.urn),
                "op": str(step.op),
                "oldUrn": step.old_urn,
                "diff": list(step.diff),
                "replaceKeys": list(step.replace_keys),
                "deleteBeforeReplace": step.delete_before_replace,
                "retain": step.retain,
                "refused": step.refused or None,
                "dataLoss": step in preview.data_loss,
                "held": held.get(step.urn),
            }
            for step in preview.changes
        ],
        "summary": preview.counts,
        "refused": [step.refused for step in preview.refused],
        "dataLoss": [step.urn for step in preview.data_loss],
        "exitCode": preview.exit_code,
    }


def held_counts(preview: Preview, held: Held | None) -> dict[str, int | None]:
    """For each data-loss step, what its resource holds in the running sandbox (None without one)."""
    found: dict[str, int | None] = {}
    for step in preview.data_loss:
        key = preview.output_of(step.urn)
        found[step.urn] = held(key) if held is not None and key in HOLDS else None
    return found
