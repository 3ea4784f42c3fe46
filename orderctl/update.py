"""`orderctl sandbox update`: the plan, as `orderctl preview` shows it, then each step as `pulumi up` reports
it once applied (sandbox.update applies it in the running sandbox)."""

from __future__ import annotations

from orderctl.preview import SYMBOLS, info, lines, name_of
from sandbox.pulumi_engine import Op
from sandbox.update import UpdateOutcome


def update_lines(outcome: UpdateOutcome) -> list[str]:
    """The plan; then, unless it was refused, every step that changed something, in the order applied."""
    text = lines(outcome.preview, {})
    if outcome.refusal:
        return text
    changed = [applied for applied in outcome.applied if applied.step.op != Op.SAME]
    width = max((len(applied.step.type) for applied in changed), default=0)
    text += ["", f"Updating ({outcome.preview.stack}):"]
    for applied in changed:
        step = applied.step
        done = [f"{applied.action} ({applied.seconds:.1f}s)", info(step)]
        if applied.calls:
            done.append("via " + ", ".join(dict.fromkeys(applied.calls)))  # each AWS call once, in order
        line = " ".join(part for part in done if part)
        text.append(f" {SYMBOLS[step.op]:<3}{step.type:<{width}}  {name_of(step.urn):<34} {line}")
    if not changed:
        text.append("  no changes")
    text += [f"warning: {warning}" for warning in outcome.warnings]
    return text
