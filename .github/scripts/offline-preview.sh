#!/usr/bin/env bash
# The offline preview of a pull request: `orderctl preview`, which needs no credentials, so it runs for every
# pull request, forks included.
#   offline-preview.sh BASE STACK... -> for each stack, what an update from BASE (the pull request's base
#       commit) to the checked-out tree would do, as `pulumi preview` shows it. Each stack's preview goes to
#       $GITHUB_STEP_SUMMARY: the text preview in a fenced block, a line for refused steps, a line for data
#       loss. Exit 1 when, for any stack:
#         - a step is refused (a protected resource replaced or deleted): no label acknowledges that;
#         - a step loses data (an unprotected table or queue replaced or deleted) and $ACCEPT_DATA_LOSS is
#           not "true" (the workflow sets it when the pull request carries the label accept-data-loss);
#         - the preview cannot be made (a base that is not there, a program that fails to run).
#   $ORDERCTL: the orderctl to run (default .venv/bin/orderctl)
set -euo pipefail

LABEL=accept-data-loss
# orderctl preview --json -> "refused count, data-loss count, exitCode, data-loss resource names", tab-separated
PARSE='import json, sys; p = json.load(sys.stdin); print(len(p["refused"]), len(p["dataLoss"]), int(p["exitCode"]), ", ".join(u.rsplit("::", 1)[-1] for u in p["dataLoss"]) or "-", sep="\t")'

if [ $# -lt 2 ]; then
    echo "usage: offline-preview.sh BASE STACK..." >&2
    exit 2
fi
base="$1"
shift
orderctl="${ORDERCTL:-.venv/bin/orderctl}"
summary="${GITHUB_STEP_SUMMARY:?}"
accept="${ACCEPT_DATA_LOSS:-false}"
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# One stack: its section of the summary and its annotations; returns 1 when it fails the check.
preview_stack() {
    local stack="$1" json json_rc=0 counts refused lost code names text text_rc=0
    json=$("$orderctl" preview --stack "$stack" --base "$base" --json 2>"$errors") || json_rc=$?
    if ! counts=$(python3 -c "$PARSE" <<<"$json" 2>/dev/null); then
        local why
        why=$(tail -n 1 "$errors")
        echo "::error::offline preview of $stack from $base could not be made: ${why:-no output (exit $json_rc)}"
        printf '### %s: the offline preview could not be made\n\n%s\n\n' "$stack" "${why:-exit $json_rc}" >>"$summary"
        return 1
    fi
    IFS=$'\t' read -r refused lost code names <<<"$counts"
    text=$("$orderctl" preview --stack "$stack" --base "$base" 2>&1) || text_rc=$?
    if [ "$json_rc" != "$code" ] || [ "$text_rc" != "$code" ]; then
        echo "::error::offline preview of $stack: exit codes disagree (--json $json_rc, its exitCode $code, text $text_rc)"
        return 1
    fi
    printf '%s\n' "$text"
    {
        printf '### %s\n\n```text\n%s\n```\n\n' "$stack" "$text"
        if [ "$refused" -gt 0 ]; then
            printf -- '- **Refused: %s step(s)**, a protected resource replaced or deleted. This fails the check; the label `%s` does not acknowledge it.\n' "$refused" "$LABEL"
        else
            printf -- '- Refused: none\n'
        fi
        if [ "$lost" -eq 0 ]; then
            printf -- '- Data loss: none\n'
        elif [ "$accept" = true ]; then
            printf -- '- **Data loss: %s step(s)** (%s), acknowledged by the label `%s`\n' "$lost" "$names" "$LABEL"
        else
            printf -- '- **Data loss: %s step(s)** (%s). This fails the check; the label `%s` acknowledges it\n' "$lost" "$names" "$LABEL"
        fi
        printf '\n'
    } >>"$summary"
    local failed=0
    if [ "$refused" -gt 0 ]; then
        echo "::error::$stack: $refused step(s) refused (a protected resource replaced or deleted); no label acknowledges this"
        failed=1
    fi
    if [ "$lost" -gt 0 ] && [ "$accept" = true ]; then
        echo "::warning::$stack: data loss acknowledged by the label $LABEL: $names"
    elif [ "$lost" -gt 0 ]; then
        echo "::error::$stack: data loss ($names); add the label $LABEL to the pull request to acknowledge it"
        failed=1
    fi
    return "$failed"
}

printf '## Offline preview from %s (`orderctl preview --base`)\n\n' "${base:0:12}" >>"$summary"
status=0
for stack in "$@"; do
    preview_stack "$stack" || status=1
done
exit "$status"
