#!/usr/bin/env bash
# Resolves the stack a workflow job works on, from the repository variable it was given.
#   stack.sh short  STACK         -> writes short=<name> to $GITHUB_OUTPUT: the last part of a fully
#                                    qualified stack (org/project/dev -> dev), which names Pulumi.<name>.yaml
#   stack.sh exists STACK         -> 0 when the stack exists, or when it is missing and its short name is
#                                    dev (pulumi/actions then creates it: upsert); a missing prod or any
#                                    other stack is one ::error:: line saying how to create it, and exit 1
set -euo pipefail

short_name() { printf '%s\n' "${1##*/}"; }

case "${1:-}" in
short)
    stack="${2:?stack name}"
    echo "short=$(short_name "$stack")" >>"${GITHUB_OUTPUT:?}"
    ;;
exists)
    stack="${2:?stack name}"
    if output=$(pulumi stack select "$stack" --non-interactive 2>&1); then
        exit 0
    fi
    if ! grep -q "no stack named" <<<"$output"; then
        echo "::error::pulumi stack select $stack failed: $(tr '\n' ' ' <<<"$output")"
        exit 1
    fi
    if [ "$(short_name "$stack")" = dev ]; then
        echo "::notice::stack $stack does not exist yet: this run creates it (dev only)"
        exit 0
    fi
    echo "::error::stack $stack does not exist yet; create it once with 'pulumi stack init $stack' (only dev is created by CI)"
    exit 1
    ;;
*)
    echo "usage: stack.sh short STACK | stack.sh exists STACK" >&2
    exit 2
    ;;
esac
