#!/usr/bin/env bash
# The Pulumi CLI in a workflow job: which release to install, and the login every `pulumi` command needs.
#   pulumi.sh version [REQUIREMENTS] -> writes version=<X> to $GITHUB_OUTPUT, X being the pulumi SDK that
#                                       requirements.txt pins (pulumi==X): the CLI and the SDK the program
#                                       runs on are then one release
#   pulumi.sh login                  -> logs in to $PULUMI_BACKEND_URL when it is set (s3://, file://, a
#                                       self-hosted https:// service), else to Pulumi Cloud with
#                                       $PULUMI_ACCESS_TOKEN. pulumi/actions with no `command` only installs
#                                       the CLI (src/main.ts, installOnly): nothing is logged in before this
set -euo pipefail

case "${1:-}" in
version)
    requirements="${2:-requirements.txt}"
    versions=$(sed -n 's/^pulumi==\([0-9][0-9A-Za-z.+-]*\)[[:space:]]*$/\1/p' "$requirements")
    if [ -z "$versions" ] || [ "$(wc -l <<<"$versions")" -ne 1 ]; then
        echo "::error::$requirements must pin the pulumi SDK exactly once (pulumi==X.Y.Z): the CLI installs that release"
        exit 1
    fi
    echo "version=$versions" >>"${GITHUB_OUTPUT:?}"
    ;;
login)
    if [ -n "${PULUMI_BACKEND_URL:-}" ]; then
        pulumi login --non-interactive "$PULUMI_BACKEND_URL"
    elif [ -n "${PULUMI_ACCESS_TOKEN:-}" ]; then
        pulumi login --non-interactive
    else
        echo "::error::no backend to log in to: set the repository variable PULUMI_BACKEND_URL (a self-managed backend) or the secret PULUMI_ACCESS_TOKEN (Pulumi Cloud)"
        exit 1
    fi
    ;;
*)
    echo "usage: pulumi.sh version [REQUIREMENTS] | pulumi.sh login" >&2
    exit 2
    ;;
esac
