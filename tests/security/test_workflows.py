"""The workflows as written: fork pull requests skip the preview visibly, prod deploys only from main, the
stack comes from repository variables (fully qualified names too), preflight runs before preview and up, and
a missing stack is one line (dev is created, prod never). The stack script runs for real, against a stand-in
`pulumi` that answers `pulumi stack select` as the CLI does. Every pull request, forks included, gets the
offline preview of dev and prod from its base with no credentials: data loss fails it unless the pull request
has the label accept-data-loss, a refused step fails it whatever the labels (the script runs for real against
a stand-in `orderctl`).

And what keeps them running on GitHub: every action on its newest major (the Node 24 ones), the Pulumi CLI
at the SDK's release, a login before any `pulumi` command whatever the backend, the tests on the oldest
supported Python and on the function's runtime, a daily drift check, every `pulumi` flag one the CLI declares,
and docs/deploy.md naming the OIDC subject each role must trust, derived here from the jobs themselves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.test_deploy_guide import check_pulumi, script_commands

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
STACK_SCRIPT = SCRIPTS / "stack.sh"
PULUMI_SCRIPT = SCRIPTS / "pulumi.sh"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
FORK = "github.event.pull_request.head.repo.full_name != github.repository"
ON_MAIN = "github.ref == 'refs/heads/main'"


def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def step_index(steps: list[dict[str, Any]], predicate: Any) -> int:
    [index] = [i for i, step in enumerate(steps) if predicate(step)]
    return index


def pulumi_command_step(steps: list[dict[str, Any]], command: str) -> int:
    return step_index(
        steps, lambda s: str(s.get("uses", "")).startswith("pulumi/actions@") and s["with"].get("command") == command
    )


def test_fork_pull_requests_skip_the_preview_with_a_notice() -> None:
    jobs = workflow("pull-request.yml")["jobs"]
    assert jobs["preview"]["if"] == SAME_REPO
    assert jobs["preview"]["permissions"]["id-token"] == "write"
    [notice_job] = [job for job in jobs.values() if job.get("if") == FORK]
    assert "needs" not in notice_job  # shown even when the tests fail
    assert any("::notice::" in step.get("run", "") for step in notice_job["steps"])
    assert "permissions" not in notice_job  # it needs nothing: no token asked for


def test_prod_deploys_only_from_main() -> None:
    flow = workflow("deploy.yml")
    triggers = flow[True]  # type: ignore[index]  # PyYAML reads the key `on` as the boolean true
    assert triggers["push"]["branches"] == ["main"]
    jobs = flow["jobs"]
    assert jobs["up"]["if"] == ON_MAIN
    assert jobs["up"]["needs"] == "test"
    assert "workflow_dispatch' && 'production'" in jobs["up"]["environment"]
    refusal = jobs["refuse-outside-main"]
    assert refusal["if"] == "github.ref != 'refs/heads/main'"
    assert "::error::" in refusal["steps"][0]["run"]
    assert "exit 1" in refusal["steps"][0]["run"]


@pytest.mark.parametrize(
    ("name", "job", "command"), [("pull-request.yml", "preview", "preview"), ("deploy.yml", "up", "up")]
)
def test_preflight_runs_on_the_short_stack_name_before_pulumi(name: str, job: str, command: str) -> None:
    flow = workflow(name)
    steps = flow["jobs"][job]["steps"]
    short = step_index(steps, lambda s: s.get("id") == "stack")
    preflight = step_index(steps, lambda s: "orderctl preflight" in s.get("run", ""))
    exists = step_index(steps, lambda s: "stack.sh exists" in s.get("run", ""))
    run = pulumi_command_step(steps, command)
    assert short < preflight < exists < run
    assert steps[short]["run"] == '.github/scripts/stack.sh short "$STACK"'
    assert '--stack "${{ steps.stack.outputs.short }}"' in steps[preflight]["run"]
    pulumi = steps[run]["with"]
    assert pulumi["stack-name"] == "${{ env.STACK }}"
    assert pulumi["upsert"] == "${{ steps.stack.outputs.short == 'dev' }}"
    assert pulumi["policyPacks"] == "policypack"
    assert "vars.PULUMI_" in flow["env"]["STACK"]


def test_stack_names_come_from_repository_variables() -> None:
    assert workflow("pull-request.yml")["env"]["STACK"] == "${{ vars.PULUMI_PREVIEW_STACK || 'dev' }}"
    deploy_stack = workflow("deploy.yml")["env"]["STACK"]
    assert "(vars.PULUMI_PROD_STACK || 'prod')" in deploy_stack
    assert "(vars.PULUMI_DEV_STACK || 'dev')" in deploy_stack


def run_script(*args: str, tmp_path: Path, pulumi_says: str | None = None) -> tuple[int, str, str]:
    """Runs stack.sh; `pulumi_says` is what the stand-in `pulumi stack select` prints on stderr before it exits 255
    (the CLI's exit code for an error); None: it succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    stand_in = bin_dir / "pulumi"
    body = "exit 0" if pulumi_says is None else f"echo {pulumi_says!r} >&2; exit 255"
    stand_in.write_text(f'#!/bin/sh\n[ "$1 $2" = "stack select" ] || exit 3\n{body}\n')
    stand_in.chmod(0o755)
    output_file = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(output_file)}
    done = subprocess.run(["bash", str(STACK_SCRIPT), *args], capture_output=True, text=True, env=env, check=False)
    outputs = output_file.read_text() if output_file.exists() else ""
    return done.returncode, done.stdout + done.stderr, outputs


@pytest.mark.parametrize(
    ("stack", "short"), [("dev", "dev"), ("acme/order-pipeline/prod", "prod"), ("acme/dev", "dev")]
)
def test_a_fully_qualified_stack_gives_the_short_name_preflight_reads(tmp_path: Path, stack: str, short: str) -> None:
    code, _, outputs = run_script("short", stack, tmp_path=tmp_path)
    assert (code, outputs) == (0, f"short={short}\n")


MISSING = "error: no stack named 'acme/order-pipeline/{}' found"


def test_an_existing_stack_passes(tmp_path: Path) -> None:
    assert run_script("exists", "acme/order-pipeline/prod", tmp_path=tmp_path)[:2] == (0, "")


def test_a_missing_dev_stack_is_created_with_a_notice(tmp_path: Path) -> None:
    code, printed, _ = run_script(
        "exists", "acme/order-pipeline/dev", tmp_path=tmp_path, pulumi_says=MISSING.format("dev")
    )
    assert code == 0
    assert printed.splitlines() == [
        "::notice::stack acme/order-pipeline/dev does not exist yet: this run creates it (dev only)"
    ]


def test_a_missing_prod_stack_is_one_error_line_and_never_created(tmp_path: Path) -> None:
    stack = "acme/order-pipeline/prod"
    code, printed, _ = run_script("exists", stack, tmp_path=tmp_path, pulumi_says=MISSING.format("prod"))
    assert code == 1
    [line] = printed.splitlines()
    assert line.startswith(
        f"::error::stack {stack} does not exist yet; create it once with 'pulumi stack init {stack}'"
    )


def test_any_other_failure_is_reported_as_is(tmp_path: Path) -> None:
    says = "error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions"
    code, printed, _ = run_script("exists", "dev", tmp_path=tmp_path, pulumi_says=says)
    assert code == 1
    assert printed.splitlines() == [f"::error::pulumi stack select dev failed: {says} "]


# --- What keeps the workflows running on GitHub ---

# action -> (the major the workflows use, its newest release and where that was read). Every one of these
# majors runs on node24 (action.yml `runs.using`): GitHub's runners moved JavaScript actions to Node 24.
CURRENT_MAJORS = {
    "actions/checkout": ("v7", "v7.0.1 (2026-07-17): github.com/actions/checkout CHANGELOG.md, action.yml"),
    "actions/setup-python": ("v7", "v7.0.0 (2026-07-19): github.com/actions/setup-python README.md, action.yml"),
    "aws-actions/configure-aws-credentials": (
        "v6",
        "v6.2.3 (2026-07-22): github.com/aws-actions/configure-aws-credentials CHANGELOG.md, action.yml",
    ),
    "pulumi/actions": ("v7", "v7.0.0 (2026-05-01): github.com/pulumi/actions CHANGELOG.md, action.yml"),
}
WORKFLOW_NAMES = sorted(path.name for path in WORKFLOWS.glob("*.yml"))
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[\w./-]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*))?$")
LOGIN = ".github/scripts/pulumi.sh login"
VERSION_OUTPUT = "${{ steps.pulumi-version.outputs.version }}"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@"


def jobs_of_all_workflows() -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, job_name, job) for name in WORKFLOW_NAMES for job_name, job in workflow(name)["jobs"].items()]


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_every_action_is_on_its_current_major_with_its_source_beside_it(name: str) -> None:
    lines = [m for line in (WORKFLOWS / name).read_text().splitlines() if (m := USES_LINE.match(line))]
    steps = [step for job in workflow(name)["jobs"].values() for step in job.get("steps", []) if "uses" in step]
    assert len(lines) == len(steps)  # every `uses:` was read from the text
    for line in lines:
        assert line["action"] in CURRENT_MAJORS, f"{line['action']}: add it to CURRENT_MAJORS with its source"
        major, source = CURRENT_MAJORS[line["action"]]
        assert line["ref"] == major, f"{line['action']}@{line['ref']}: its current major is {major} ({source})"
        comment = line["comment"] or ""
        assert f"github.com/{line['action']}" in comment, f"{line['action']}: name the source beside it"
        assert source.split()[0] in comment, f"{line['action']}: the comment names release {source.split()[0]}"


def requirements_pin(package: str) -> str:
    [version] = re.findall(rf"^{re.escape(package)}==(\S+)\s*$", (ROOT / "requirements.txt").read_text(), re.M)
    return str(version)


def script_branches_running_pulumi() -> set[tuple[str, str]]:
    """(script, subcommand) for each `case` branch of .github/scripts/*.sh that runs a `pulumi` command."""
    found = set()
    for script in SCRIPTS.glob("*.sh"):
        for branch, body in re.findall(r"^(\w[\w-]*)\)\n(.*?)^\s*;;", script.read_text(), flags=re.M | re.S):
            if any(words[0] == "pulumi" for words in script_commands(body)):
                found.add((f".github/scripts/{script.name}", branch))
    return found


def runs_pulumi(step: dict[str, Any]) -> bool:
    """The step runs a `pulumi` command (the login itself aside): pulumi/actions with a command, `pulumi ...`
    in its script, or a script subcommand that does."""
    if str(step.get("uses", "")).startswith("pulumi/actions@"):
        return "command" in step.get("with", {})
    branches = script_branches_running_pulumi() - {tuple(LOGIN.split())}
    return any(words[0] == "pulumi" or tuple(words[:2]) in branches for words in script_commands(step.get("run", "")))


def test_the_scripts_that_run_pulumi_are_the_login_and_the_stack_check() -> None:
    assert script_branches_running_pulumi() == {(".github/scripts/pulumi.sh", "login"),
                                                (".github/scripts/stack.sh", "exists")}  # fmt: skip


PULUMI_JOBS = [
    (name, job_name, job) for name, job_name, job in jobs_of_all_workflows() if any(map(runs_pulumi, job["steps"]))
]


def test_every_job_that_runs_pulumi_is_checked() -> None:
    assert {(name, job_name) for name, job_name, _ in PULUMI_JOBS} == {
        ("deploy.yml", "up"),
        ("drift.yml", "drift"),
        ("pull-request.yml", "preview"),
    }


@pytest.mark.parametrize(("name", "job_name", "job"), PULUMI_JOBS, ids=lambda v: v if isinstance(v, str) else "")
def test_the_cli_is_the_sdk_release_and_logged_in_before_any_pulumi_command(
    name: str, job_name: str, job: dict[str, Any]
) -> None:
    steps = job["steps"]
    version = step_index(steps, lambda s: s.get("id") == "pulumi-version")
    assert steps[version]["run"] == ".github/scripts/pulumi.sh version"
    install = step_index(
        steps, lambda s: str(s.get("uses", "")).startswith("pulumi/actions@") and "command" not in s["with"]
    )
    credentials = step_index(steps, lambda s: str(s.get("uses", "")).startswith(AWS_CREDENTIALS))
    login = step_index(steps, lambda s: s.get("run") == LOGIN)
    first_pulumi = min(i for i, step in enumerate(steps) if runs_pulumi(step))
    # an s3:// backend needs the AWS credentials to log in; every pulumi command needs the login
    assert version < install < login < first_pulumi
    assert credentials < login
    assert steps[login]["env"] == {
        "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
        "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
    }
    for step in steps:
        if str(step.get("uses", "")).startswith("pulumi/actions@"):
            assert step["with"]["pulumi-version"] == VERSION_OUTPUT, f"{name} {job_name}: {step}"


def run_pulumi_script(*args: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, str, str, str]:
    """Runs pulumi.sh with a stand-in `pulumi` that records its arguments; (exit code, what it printed, what it
    wrote to $GITHUB_OUTPUT, the stand-in's arguments)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    stand_in = bin_dir / "pulumi"
    stand_in.write_text(f'#!/bin/sh\necho "$*" >>{calls}\n')
    stand_in.chmod(0o755)
    output_file = tmp_path / "github_output"
    environment = {
        **{k: v for k, v in os.environ.items() if k not in ("PULUMI_BACKEND_URL", "PULUMI_ACCESS_TOKEN")},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output_file),
        **env,
    }
    done = subprocess.run(
        ["bash", str(PULUMI_SCRIPT), *args], capture_output=True, text=True, env=environment, check=False, cwd=ROOT
    )
    outputs = output_file.read_text() if output_file.exists() else ""
    called = calls.read_text() if calls.exists() else ""
    return done.returncode, done.stdout + done.stderr, outputs, called


def test_the_cli_version_is_the_sdk_requirements_txt_pins(tmp_path: Path) -> None:
    code, printed, outputs, _ = run_pulumi_script("version", tmp_path=tmp_path, env={})
    assert (code, printed, outputs) == (0, "", f"version={requirements_pin('pulumi')}\n")


@pytest.mark.parametrize("requirements", ["pulumi-aws==7.51.1\n", "pulumi>=3\n", "pulumi==3.1.0\npulumi==3.2.0\n"])
def test_no_exact_single_pulumi_pin_is_one_error_line(tmp_path: Path, requirements: str) -> None:
    (tmp_path / "requirements.txt").write_text(requirements)
    code, printed, outputs, _ = run_pulumi_script("version", str(tmp_path / "requirements.txt"), tmp_path=tmp_path,
                                                  env={})  # fmt: skip
    assert (code, outputs) == (1, "")
    [line] = printed.splitlines()
    assert line.startswith("::error::")
    assert "pulumi==X.Y.Z" in line


@pytest.mark.parametrize(
    ("env", "called"),
    [
        ({"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_ACCESS_TOKEN": ""}, "login --non-interactive s3://state-bucket\n"),
        ({"PULUMI_BACKEND_URL": "", "PULUMI_ACCESS_TOKEN": "pul-xyz"}, "login --non-interactive\n"),
    ],
)  # fmt: skip
def test_login_goes_to_the_self_managed_backend_or_to_pulumi_cloud(
    tmp_path: Path, env: dict[str, str], called: str
) -> None:
    code, _, _, calls = run_pulumi_script("login", tmp_path=tmp_path, env=env)
    assert (code, calls) == (0, called)


def test_login_with_neither_backend_nor_token_is_one_error_line(tmp_path: Path) -> None:
    code, printed, _, calls = run_pulumi_script("login", tmp_path=tmp_path, env={})
    assert (code, calls) == (1, "")
    [line] = printed.splitlines()
    assert line.startswith("::error::")
    assert "PULUMI_BACKEND_URL" in line
    assert "PULUMI_ACCESS_TOKEN" in line


def oldest_supported_python() -> str:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(3\.\d+)", requires)
    assert match, requires
    return match[1]


def function_runtime_python() -> str:
    [version] = re.findall(r'^RUNTIME = "python(3\.\d+)"$', (ROOT / "infra" / "processor.py").read_text(), re.M)
    return str(version)


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_the_tests_run_on_the_oldest_supported_python_and_on_the_function_runtime(name: str) -> None:
    job = workflow(name)["jobs"]["test"]
    assert set(job["strategy"]["matrix"]["python-version"]) == {oldest_supported_python(), function_runtime_python()}
    [setup] = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/setup-python@")]
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert "make test" in [step.get("run") for step in job["steps"]]


def test_pulumi_runs_on_the_function_runtime() -> None:
    for _, _, job in PULUMI_JOBS:
        [setup] = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/setup-python@")]
        assert setup["with"]["python-version"] == function_runtime_python()


def workflow_pulumi_commands() -> list[list[str]]:
    """Every `pulumi` command line in the workflows' `run:` steps and in the scripts they call."""
    runs = [step.get("run", "") for _, _, job in jobs_of_all_workflows() for step in job.get("steps", [])]
    scripts = [path.read_text() for path in SCRIPTS.glob("*.sh")]
    return [words for text in runs + scripts for words in script_commands(text) if words[0] == "pulumi"]


def test_the_workflows_pulumi_commands_are_all_found() -> None:
    firsts = {tuple(words[1:3]) for words in workflow_pulumi_commands()}
    assert {("refresh", "--preview-only"), ("login", "--non-interactive"), ("stack", "select")} <= firsts


@pytest.mark.parametrize("words", workflow_pulumi_commands(), ids=lambda words: " ".join(words)[:60])
def test_each_workflow_pulumi_command_is_one_the_cli_accepts(words: list[str]) -> None:
    assert check_pulumi(words) == []


def test_a_daily_drift_check_fails_on_drift_for_each_stack() -> None:
    flow = workflow("drift.yml")
    triggers = flow[True]  # type: ignore[index]  # PyYAML reads the key `on` as the boolean true
    assert [set(entry) for entry in triggers["schedule"]] == [{"cron"}]
    assert "workflow_dispatch" in triggers
    [job] = flow["jobs"].values()
    assert job["if"] == ON_MAIN
    assert set(job["strategy"]["matrix"]["stack"]) == {"dev", "prod"}
    assert job["strategy"]["fail-fast"] is False
    assert "(vars.PULUMI_DEV_STACK || 'dev')" in job["env"]["STACK"]
    assert "(vars.PULUMI_PROD_STACK || 'prod')" in job["env"]["STACK"]
    [refresh] = [words for step in job["steps"] for words in script_commands(step.get("run", ""))
                 if words[:2] == ["pulumi", "refresh"]]  # fmt: skip
    assert {"--preview-only", "--expect-no-changes"} <= set(refresh)  # shows, writes nothing, fails on a change
    assert refresh[refresh.index("--stack") + 1] == "$STACK"
    assert not {"--yes", "-y", "--skip-preview", "-f"} & set(refresh)


# --- The OIDC subject each job presents, and the trust each role must give it ---


def literal_values(expression: str) -> list[str]:
    """The values an `a && 'x' || 'y'` expression can take: its string literals that are not compared with."""
    if "${{" not in expression:
        return [expression]
    return [value for compared, value in re.findall(r"([=!]=)?\s*'([^']*)'", expression) if not compared]


def expected_subjects() -> list[tuple[str, str, str, str]]:
    """(workflow, job, role variable, subject) for each job that asks for an OIDC token, the subject as GitHub's
    "OpenID Connect reference" gives it: repo:OWNER/REPO:environment:NAME for a job with an environment,
    :pull_request for a pull request's job, :ref:REF otherwise."""
    found = []
    for name, job_name, job in jobs_of_all_workflows():
        if job.get("permissions", {}).get("id-token") != "write":
            continue
        [aws] = [step for step in job["steps"] if str(step.get("uses", "")).startswith(AWS_CREDENTIALS)]
        assert "audience" not in aws["with"]  # the action's default audience: sts.amazonaws.com
        role = re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", aws["with"]["role-to-assume"])
        assert role, aws["with"]["role-to-assume"]
        if "environment" in job:
            subjects = [f"environment:{value}" for value in literal_values(job["environment"])]
        elif "pull_request" in workflow(name)[True]:  # type: ignore[index]
            subjects = ["pull_request"]
        else:
            ref = re.fullmatch(r"github\.ref == '(refs/[\w./-]+)'", job.get("if", ""))
            assert ref, f"{name} {job_name}: a job without an environment runs on one ref, or its subject varies"
            subjects = [f"ref:{ref[1]}"]
        found += [(name, job_name, role[1], f"repo:OWNER/REPO:{subject}") for subject in subjects]
    return found


def ci_section() -> str:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    match = re.search(r"^## CI/CD.*?(?=^## )", guide, flags=re.M | re.S)
    assert match
    return match[0]


def test_each_jobs_subject_is_derived() -> None:
    assert sorted(subject for *_, subject in expected_subjects()) == [
        "repo:OWNER/REPO:environment:dev",
        "repo:OWNER/REPO:environment:production",
        "repo:OWNER/REPO:pull_request",
        "repo:OWNER/REPO:ref:refs/heads/main",
    ]


@pytest.mark.parametrize(("name", "job", "role", "subject"), expected_subjects())
def test_the_guide_gives_the_subject_each_role_must_trust(name: str, job: str, role: str, subject: str) -> None:
    rows = [line for line in ci_section().splitlines() if line.startswith("|")]
    assert any(all(f"`{part}`" in row for part in (name, job, role, subject)) for row in rows), (name, job, subject)


def test_the_guides_trust_policies_check_audience_and_subject() -> None:
    section = ci_section()
    assert "OpenID Connect reference" in section
    assert "docs.github.com" in section
    policies = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, flags=re.S)]
    assert policies
    subjects = {subject for *_, subject in expected_subjects()}
    trusted = set()
    for policy in policies:
        for statement in policy["Statement"]:
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
            condition = statement["Condition"]["StringEquals"]
            assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
            sub = condition["token.actions.githubusercontent.com:sub"]
            trusted |= set([sub] if isinstance(sub, str) else sub)
    assert trusted
    assert trusted <= subjects


# --- The offline preview: every pull request, forks included, data loss only with the label ---

OFFLINE_PREVIEW_SCRIPT = SCRIPTS / "offline-preview.sh"
DATA_LOSS_LABEL = "accept-data-loss"
PR_BASE = "${{ github.event.pull_request.base.sha }}"


def offline_preview_job() -> dict[str, Any]:
    job = workflow("pull-request.yml")["jobs"]["offline-preview"]
    assert isinstance(job, dict)
    return job


def offline_preview_step() -> dict[str, Any]:
    [step] = [step for step in offline_preview_job()["steps"] if "offline-preview.sh" in step.get("run", "")]
    assert isinstance(step, dict)
    return step


def shipped_stacks() -> list[str]:
    return sorted(path.name.split(".")[1] for path in ROOT.glob("Pulumi.*.yaml"))


def test_the_offline_preview_runs_for_every_pull_request_with_no_credentials() -> None:
    flow = workflow("pull-request.yml")
    triggers = flow[True]  # type: ignore[index]  # PyYAML reads the key `on` as the boolean true
    assert set(triggers) == {"pull_request"}  # never pull_request_target: a fork's code never sees a secret
    assert not any("pull_request_target" in workflow(name)[True] for name in WORKFLOW_NAMES)  # type: ignore[index]
    # the defaults, and a label added or removed re-runs the check
    assert {"opened", "synchronize", "reopened", "labeled", "unlabeled"} <= set(triggers["pull_request"]["types"])
    job = offline_preview_job()
    assert "if" not in job  # forks included: no condition on the head repository
    assert "needs" not in job  # nor on a job that has one
    assert job["permissions"] == {"contents": "read"}
    assert flow["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(job)
    assert "environment" not in job
    [checkout] = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0  # the base commit is in the clone
    assert checkout["with"]["persist-credentials"] is False
    assert not any(map(runs_pulumi, job["steps"]))


def test_the_offline_preview_previews_each_shipped_stack_from_the_pull_requests_base() -> None:
    step = offline_preview_step()
    [words] = script_commands(step["run"])
    assert words[:2] == [".github/scripts/offline-preview.sh", "$BASE"]
    assert sorted(words[2:]) == shipped_stacks() == ["dev", "prod"]  # protection differs: both
    assert step["env"]["BASE"] == PR_BASE
    # the label, read from the event, is the only acknowledgement, and the guide names it
    assert step["env"]["ACCEPT_DATA_LOSS"] == (
        f"${{{{ contains(github.event.pull_request.labels.*.name, '{DATA_LOSS_LABEL}') }}}}"
    )
    assert f"LABEL={DATA_LOSS_LABEL}\n" in OFFLINE_PREVIEW_SCRIPT.read_text()
    assert f"`{DATA_LOSS_LABEL}`" in ci_section()
    assert f"`{DATA_LOSS_LABEL}`" in (ROOT / "README.md").read_text()


# What the stand-in `orderctl preview --json` prints for each case, as orderctl.preview.as_json shapes it.
TABLE_URN = "urn:pulumi:dev::order-pipeline::orders:index:OrderPipeline$aws:dynamodb/table:Table::orders-table"
PREVIEWS = {
    "none": {"refused": [], "dataLoss": [], "exitCode": 0},
    "loss": {"refused": [], "dataLoss": [TABLE_URN], "exitCode": 1},
    "refused": {"refused": ["unable to replace resource ... marked for protection"], "dataLoss": [], "exitCode": 1},
}


def run_offline_preview(
    tmp_path: Path, previews: dict[str, str], accept: str | None, *stacks: str
) -> tuple[int, str, str, list[str]]:
    """Runs offline-preview.sh with a stand-in orderctl whose preview of each stack is `previews[stack]` (a key of
    PREVIEWS, or "broken": no JSON, an error on stderr); (exit code, what it printed, the summary, the calls)."""
    calls = tmp_path / "calls"
    stand_in = tmp_path / "orderctl"
    cases = ""
    for stack, kind in previews.items():
        preview = PREVIEWS.get(kind)
        body, exit_code = (json.dumps(preview), preview["exitCode"]) if preview else ("", 1)
        cases += f"{stack}) body='{body}'; code={exit_code} ;;\n"
    stand_in.write_text(
        f'#!/bin/bash\necho "$*" >>{calls}\ncase "$3" in\n{cases}esac\n'
        '[ -n "$body" ] || { echo "orderctl: git rev-parse --verify nope: fatal" >&2; exit 1; }\n'
        'if [ "$6" = --json ]; then echo "$body"; else echo "Previewing update ($3) from $5"; fi\nexit "$code"\n'
    )
    stand_in.chmod(0o755)
    summary = tmp_path / "summary"
    env = {**os.environ, "ORDERCTL": str(stand_in), "GITHUB_STEP_SUMMARY": str(summary)}
    env.pop("ACCEPT_DATA_LOSS", None)
    if accept is not None:
        env["ACCEPT_DATA_LOSS"] = accept
    done = subprocess.run(["bash", str(OFFLINE_PREVIEW_SCRIPT), "0123abcd", *stacks], capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip
    return done.returncode, done.stdout + done.stderr, summary.read_text(), calls.read_text().splitlines()


def annotation_lines(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if line.startswith("::")]


def test_no_data_loss_passes_and_the_summary_holds_each_preview(tmp_path: Path) -> None:
    code, printed, summary, calls = run_offline_preview(tmp_path, {"dev": "none", "prod": "none"}, "false",
                                                        "dev", "prod")  # fmt: skip
    assert (code, annotation_lines(printed)) == (0, [])
    assert calls == [f"preview --stack {stack} --base 0123abcd{flag}" for stack in ("dev", "prod")
                     for flag in (" --json", "")]  # fmt: skip
    for stack in ("dev", "prod"):
        assert f"### {stack}\n\n```text\nPreviewing update ({stack}) from 0123abcd\n```\n" in summary
    assert summary.count("- Data loss: none\n") == 2
    assert summary.count("- Refused: none\n") == 2


@pytest.mark.parametrize("accept", [None, "false"])
def test_data_loss_fails_without_the_label(tmp_path: Path, accept: str | None) -> None:
    code, printed, summary, _ = run_offline_preview(tmp_path, {"dev": "loss", "prod": "none"}, accept, "dev", "prod")
    assert code == 1
    assert annotation_lines(printed) == [
        f"::error::dev: data loss (orders-table); add the label {DATA_LOSS_LABEL} to the pull request to acknowledge it"
    ]
    assert f"- **Data loss: 1 step(s)** (orders-table). This fails the check; the label `{DATA_LOSS_LABEL}`" in summary


def test_data_loss_passes_with_the_label_and_says_so(tmp_path: Path) -> None:
    code, printed, summary, _ = run_offline_preview(tmp_path, {"dev": "loss", "prod": "none"}, "true", "dev", "prod")
    assert code == 0
    assert annotation_lines(printed) == [
        f"::warning::dev: data loss acknowledged by the label {DATA_LOSS_LABEL}: orders-table"
    ]
    assert f"- **Data loss: 1 step(s)** (orders-table), acknowledged by the label `{DATA_LOSS_LABEL}`" in summary


@pytest.mark.parametrize("accept", ["false", "true"])
def test_a_refused_step_fails_whatever_the_label(tmp_path: Path, accept: str) -> None:
    code, printed, summary, _ = run_offline_preview(tmp_path, {"dev": "none", "prod": "refused"}, accept, "dev", "prod")
    assert code == 1
    [line] = annotation_lines(printed)
    assert line.startswith("::error::prod: 1 step(s) refused")
    assert f"the label `{DATA_LOSS_LABEL}` does not acknowledge it" in summary


def test_a_preview_that_cannot_be_made_fails_with_one_line(tmp_path: Path) -> None:
    code, printed, summary, _ = run_offline_preview(tmp_path, {"dev": "broken", "prod": "none"}, "true", "dev", "prod")
    assert code == 1
    assert annotation_lines(printed) == [
        "::error::offline preview of dev from 0123abcd could not be made: orderctl: git rev-parse --verify nope: fatal"
    ]
    assert "### dev: the offline preview could not be made" in summary
    assert "### prod\n" in summary  # the other stacks are still previewed
