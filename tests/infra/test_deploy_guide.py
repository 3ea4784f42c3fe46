"""Every command in docs/deploy.md's shell blocks is one the tools accept as written.

`pulumi` commands are checked against the flags the Pulumi CLI declares (the CLI cannot be installed here):
the table below is copied from its cobra definitions in pulumi/pulumi, file by file. `orderctl` commands are
parsed by the real click CLI. tests/security/test_workflows.py checks the workflows' and their scripts'
`pulumi` commands with the same table (`script_commands`, `check_pulumi`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from orderctl.cli import cli

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


@dataclass(frozen=True)
class PulumiCommand:
    source: str  # where pulumi/pulumi declares it
    flags: dict[str, bool]  # flag -> takes a value
    args: tuple[int, int]  # positional arguments allowed (min, max)


_STACK = {"--stack": True, "-s": True}
# The root command's persistent flags, which every subcommand takes (pkg/cmd/pulumi/pulumi.go)
GLOBAL_FLAGS = {
    "--cwd": True, "-C": True, "--emoji": False, "-e": False, "--fully-qualify-stack-names": False, "-Q": False,
    "--disable-integrity-checking": False, "--logflow": False, "--logtostderr": False, "--non-interactive": False,
    "--tracing": True, "--profiling": True, "--memprofilerate": True, "--verbose": True, "-v": True, "--color": True,
}  # fmt: skip
PULUMI: dict[tuple[str, ...], PulumiCommand] = {
    ("version",): PulumiCommand("pkg/cmd/pulumi/version.go", {}, (0, 0)),
    # login.go: cloud-url/c, local/l; Args: MaximumNArgs(1) (the backend URL: s3://, file://, https://, ...)
    ("login",): PulumiCommand("pkg/cmd/pulumi/auth/login.go", {"--cloud-url": True, "-c": True, "--local": False,
                                                               "-l": False}, (0, 1)),
    ("stack", "init"): PulumiCommand(
        "pkg/cmd/pulumi/stack/stack_init.go",
        {**_STACK, "--secrets-provider": True, "--copy-config-from": True, "--no-select": False, "--teams": True},
        (0, 1),
    ),
    ("stack", "select"): PulumiCommand(
        "pkg/cmd/pulumi/stack/stack_select.go", {**_STACK, "--create": False, "-c": False,
                                                 "--secrets-provider": True}, (0, 1)
    ),
    ("stack", "output"): PulumiCommand(
        "pkg/cmd/pulumi/stack/stack_output.go", {**_STACK, "--json": False, "-j": False, "--show-secrets": False},
        (0, 1),
    ),
    ("stack", "rm"): PulumiCommand(
        "pkg/cmd/pulumi/stack/stack_rm.go",
        {**_STACK, "--force": False, "-f": False, "--yes": False, "-y": False, "--preserve-config": False,
         "--remove-backups": False},
        (0, 1),
    ),
    # `pulumi config`'s persistent --stack / --config-file, and config_set.go's own: path, plaintext, secret
    ("config", "set"): PulumiCommand(
        "pkg/cmd/pulumi/config/config_set.go",
        {**_STACK, "--config-file": True, "--path": False, "--plaintext": False, "--secret": False},
        (1, 2),
    ),
    ("preview",): PulumiCommand(
        "pkg/cmd/pulumi/operations/preview.go",
        {**_STACK, "--policy-pack": True, "--policy-pack-config": True, "--diff": False, "--config": True,
         "-c": True, "--expect-no-changes": False, "--refresh": False, "-r": False, "--json": False, "-j": False},
        (0, 0),
    ),
    ("up",): PulumiCommand(
        "pkg/cmd/pulumi/operations/up.go",
        {**_STACK, "--policy-pack": True, "--policy-pack-config": True, "--diff": False, "--config": True,
         "-c": True, "--yes": False, "-y": False, "--skip-preview": False, "-f": False, "--refresh": False,
         "-r": False},
        (0, 0),  # up also takes a template URL, which this guide never uses
    ),
    # refresh.go: preview-only (since pulumi/pulumi#15330, 3.104) shows the refresh without applying it, and
    # expect-no-changes fails the command when that preview has changes (RefreshStack returns them either way)
    ("refresh",): PulumiCommand(
        "pkg/cmd/pulumi/operations/refresh.go",
        {**_STACK, "--preview-only": False, "--expect-no-changes": False, "--yes": False, "-y": False,
         "--skip-preview": False, "-f": False, "--diff": False, "--json": False, "-j": False,
         "--run-program": False},
        (0, 0),  # refresh also takes a URL for remote operations, which nothing here uses
    ),
    # state_unprotect.go: a URN, or --all; --yes skips the confirmation
    ("state", "unprotect"): PulumiCommand(
        "pkg/cmd/pulumi/state/state_unprotect.go",
        {**_STACK, "--all": False, "--yes": False, "-y": False},
        (0, 1),
    ),
    ("destroy",): PulumiCommand(
        "pkg/cmd/pulumi/operations/destroy.go",
        {**_STACK, "--yes": False, "-y": False, "--remove": False, "--exclude-protected": False,
         "--skip-preview": False, "-f": False},
        (0, 0),
    ),
}  # fmt: skip


def script_commands(script: str) -> list[list[str]]:
    """Each simple command of a shell script, as words: continuation lines joined, comments dropped, split at
    pipes, `&&`, `;` and command substitution's parentheses, redirections (`2>&1`, `>>"$FILE"`) dropped."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        tokens = iter(lexer)
        for token in tokens:
            if token and set(token) <= set("|&;()<>"):
                if set(token) & set("<>"):  # a redirection: drop it, its target and a file descriptor before it
                    if words and words[-1].isdigit():
                        words.pop()
                    next(tokens, None)
                    continue
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
    return [words for words in commands if words]


def shell_commands(markdown: str) -> list[list[str]]:
    """Each simple command of the ```bash blocks (see `script_commands`)."""
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", markdown, flags=re.DOTALL)
    return [words for block in blocks for words in script_commands(block)]


def check_pulumi(words: list[str]) -> list[str]:
    """What the Pulumi CLI would refuse in this command line (empty when it accepts it)."""
    rest = words[1:]
    path = next((p for p in sorted(PULUMI, key=len, reverse=True) if tuple(rest[: len(p)]) == p), None)
    if path is None:
        return [f"unknown subcommand in {' '.join(words)!r}"]
    spec = PULUMI[path]
    flags = {**GLOBAL_FLAGS, **spec.flags}
    problems, positional, tokens = [], [], iter(rest[len(path) :])
    for token in tokens:
        if token.startswith("-") and token != "-":
            name, _, inline = token.partition("=")
            if name not in flags:
                problems.append(f"`pulumi {' '.join(path)}` has no flag {name} ({spec.source})")
            elif flags[name] and not inline and next(tokens, None) is None:
                problems.append(f"{name} needs a value")
        else:
            positional.append(token)
    low, high = spec.args
    if not low <= len(positional) <= high:
        problems.append(f"`pulumi {' '.join(path)}` takes {low}..{high} arguments, given {positional}")
    return problems


def check_orderctl(words: list[str]) -> str | None:
    """Parses the command line with the real click CLI, down to the last subcommand; the error, or None."""
    command: click.Command = cli
    parent: click.Context | None = None
    args = words[1:]
    try:
        while True:
            context = command.make_context(command.name or "orderctl", list(args), parent=parent)
            if not isinstance(command, click.Group):
                return None
            remaining = [*context._protected_args, *context.args]
            name, sub, args = command.resolve_command(context, remaining)
            assert sub is not None, name
            command, parent = sub, context
    except click.ClickException as error:
        return error.format_message()


GUIDE_COMMANDS = shell_commands(GUIDE.read_text())
PULUMI_LINES = [words for words in GUIDE_COMMANDS if words[0] == "pulumi"]
ORDERCTL_LINES = [words for words in GUIDE_COMMANDS if words[0] == "orderctl"]


def test_the_guide_covers_the_whole_path() -> None:
    firsts = {tuple(words[1:3]) for words in PULUMI_LINES}
    for expected in [("login",), ("login", "--local"), ("stack", "init"), ("preview",), ("up",), ("destroy",)]:
        assert any(first[: len(expected)] == expected for first in firsts), expected
    assert any(w[:2] == ["pulumi", "login"] and w[2].startswith("s3://") for w in PULUMI_LINES if len(w) > 2)
    orderctl = {words[1] for words in ORDERCTL_LINES}
    assert {"preflight", "status", "publish"} <= orderctl


@pytest.mark.parametrize("words", PULUMI_LINES, ids=lambda words: " ".join(words)[:60])
def test_each_pulumi_command_is_one_the_cli_accepts(words: list[str]) -> None:
    assert check_pulumi(words) == []


@pytest.mark.parametrize("words", ORDERCTL_LINES, ids=lambda words: " ".join(words)[:60])
def test_each_orderctl_command_parses(words: list[str]) -> None:
    if words[1] not in cli.commands:
        pytest.skip(f"orderctl {words[1]} is not on this branch yet")
    assert check_orderctl(words) is None


def test_the_checkers_refuse_what_the_tools_refuse() -> None:
    assert check_pulumi(["pulumi", "up", "--stak", "dev"]) != []
    assert check_pulumi(["pulumi", "stack", "init", "a", "b"]) != []
    assert check_pulumi(["pulumi", "preview", "--stack"]) != []
    assert check_pulumi(["pulumi", "deploy"]) != []
    assert check_pulumi(["pulumi", "refresh", "--preview", "--stack", "dev"]) != []
    assert check_pulumi(["pulumi", "login", "--non-interactive", "s3://bucket"]) == []
    assert check_orderctl(["orderctl", "status", "--stak", "dev"]) is not None
    assert check_orderctl(["orderctl", "--stack", "dev", "status"]) is not None  # --stack is the command's
    assert check_orderctl(["orderctl", "publish", "--stack", "dev", "--sample", "0"]) is not None


def test_shell_commands_split_like_a_shell() -> None:
    markdown = "```bash\ncurl -fsSL https://x | sh   # note\npulumi login --local && pulumi stack init 'a b'\n```\n"
    assert shell_commands(markdown) == [
        ["curl", "-fsSL", "https://x"],
        ["sh"],
        ["pulumi", "login", "--local"],
        ["pulumi", "stack", "init", "a b"],
    ]


def test_script_commands_find_pulumi_inside_substitutions_and_drop_redirections() -> None:
    script = (
        'if output=$(pulumi stack select "$stack" --non-interactive 2>&1); then\n'
        '    echo "short=$(x)" >>"${GITHUB_OUTPUT:?}"\n'
        "fi\n"
    )
    assert ["pulumi", "stack", "select", "$stack", "--non-interactive"] in script_commands(script)
    assert ["echo", "short=$(x)"] in script_commands(script)
