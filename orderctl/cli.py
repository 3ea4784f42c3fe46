"""orderctl: the order pipeline offline (demo, sandbox) and the tools to operate a running one."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import IO, Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from contract import outputs
from orderctl.errors import OrderctlError
from orderctl.pipeline import DLQ_SOURCES, ORDER_DLQ, DeadLetter, Pipeline
from orderctl.samples import problem_with, sample_order, to_json
from orderctl.tables import dead_letters_table, orders_table, receives
from orderctl.target import DEFAULT_STATE_DIR, resolve
from sandbox.plan import PlanError  # light: no Pulumi SDK

PROJECT_DIR = Path(__file__).resolve().parents[1]
F = TypeVar("F", bound=Callable[..., Any])


def _console() -> Console:
    # Bound to the stdout of the moment: the sandbox later routes the function's own output elsewhere.
    return Console(file=sys.stdout, highlight=False)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=lambda v: int(v) if isinstance(v, Decimal) and v == int(v) else float(v))


Connect = Callable[[], Pipeline]


def targeted(command: F) -> F:
    """Adds --sandbox / --stack / --outputs and hands the command `connect()`, which it calls once its own
    arguments are checked: a bad argument is reported before anything is read or reached."""

    @click.option(
        "--sandbox",
        "sandbox_dir",
        type=click.Path(path_type=Path, file_okay=False),
        is_flag=False,
        flag_value=str(DEFAULT_STATE_DIR),
        default=None,
        help=f"a sandbox started by `orderctl sandbox up` (state dir, default {DEFAULT_STATE_DIR}); the default target",
    )
    @click.option("--stack", help="a deployed stack, read through `pulumi stack output --json --stack NAME`")
    @click.option(
        "--outputs", "outputs_file", type=click.Path(path_type=Path), help="a saved `pulumi stack output --json`"
    )
    @wraps(command)
    def wrapper(sandbox_dir: Path | None, stack: str | None, outputs_file: Path | None, **kwargs: Any) -> Any:
        return command(lambda: Pipeline(resolve(sandbox_dir, stack, outputs_file)), **kwargs)

    return wrapper  # type: ignore[return-value]


def project_dir_option(detail: str = "") -> Callable[[F], F]:
    """`--project-dir`, the Pulumi project a command reads (default: the current directory, as the Pulumi CLI)."""
    return click.option(
        "--project-dir",
        type=click.Path(path_type=Path, file_okay=False, exists=True),
        default=Path(),
        help=f"the Pulumi project directory{detail}  [default: the current directory]",
    )


class _Failed(click.ClickException):
    """A failure shown as one line on stderr, exit status 1 (the same in `main()` and in click's test runner)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"orderctl: {self.format_message()}", err=True)


class _OneLineErrors(click.Group):
    """Every failure a user meets is one line; `orderctl --debug ...` also prints the traceback behind it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as error:  # a bug too is one line; --debug shows its traceback
            if ctx.params.get("debug"):
                traceback.print_exc()
            raise _Failed(_one_line(error)) from error


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="on a failure, also print the traceback behind its one-line error")
def cli(debug: bool) -> None:
    """The order pipeline: run it offline, and operate a running one."""


@cli.command()
@click.option("--stack", default="dev", show_default=True, help="the stack whose config the sandbox deploys")
@click.option("--orders", "count", type=click.IntRange(1, 10_000), default=20, show_default=True, help="sample orders")
@click.option(
    "--scenario",
    type=click.Choice(["orders", "missing-permission"]),
    default="orders",
    show_default=True,
    help="orders: the sample workload; missing-permission: the seeds' story of a role without dynamodb:PutItem",
)
def demo(stack: str, count: int, scenario: str) -> None:
    """Run the whole pipeline offline and show what happened to each order (exit 0 when all is as expected)."""
    from orderctl.demo import run_demo  # the sandbox loads moto and Pulumi: only when needed
    from orderctl.demo_permission import run_missing_permission

    with _sandbox_errors():
        if scenario == "missing-permission":
            ok = run_missing_permission(_console(), PROJECT_DIR, stack)
        else:
            ok = run_demo(_console(), PROJECT_DIR, stack, count)
    if not ok:
        raise OrderctlError("the demo's outcomes were not all as expected (see the table above)")


@cli.group()
def sandbox() -> None:
    """The offline sandbox: moto's server with the stack deployed in it."""


@contextmanager
def _sandbox_errors() -> Iterator[None]:
    """The sandbox's refusals (bad config, unknown stack, a deploy it refuses) as one-line errors."""
    import pulumi

    from sandbox.deploy import DeployError
    from sandbox.program import StackConfigError
    from sandbox.runner import StateDirError

    try:
        yield
    except (DeployError, StackConfigError, StateDirError, pulumi.RunError) as error:
        raise OrderctlError(" ".join(str(error).split())) from None


def _parse_config(values: tuple[str, ...]) -> dict[str, str]:
    parsed = {}
    for value in values:
        key, separator, setting = value.partition("=")
        if not separator or not key:
            raise click.BadParameter(f"{value!r} is not key=value", param_hint="--config")
        parsed[key] = setting
    return parsed


@sandbox.command("up")
@click.option("--stack", default="dev", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=4566, show_default=True)
@click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_STATE_DIR, show_default=True
)
@click.option("--config", "settings", multiple=True, metavar="KEY=VALUE", help="a stack config override (repeatable)")
@click.option("--logs", "echo_logs", is_flag=True, help="also print the function's log lines here")
def sandbox_up(stack: str, port: int, state_dir: Path, settings: tuple[str, ...], echo_logs: bool) -> None:
    """Serve the sandbox until SIGINT or SIGTERM; writes <state-dir>/outputs.json when ready."""
    from sandbox.runner import Sandbox, StartCancelled

    console = _console()
    overrides = _parse_config(settings)
    # SIGINT and SIGTERM only set this event, never raise: while the sandbox starts, it cancels the start
    # (start() undoes what it did, and the exit is 130); once it serves, it asks it to stop (exit 0).
    stop_requested = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop_requested.set())
    console.print(f"deploying stack {stack} into the sandbox (state dir {state_dir}) …")
    try:
        with _sandbox_errors():  # a refused config is one line, as any other start failure
            sandbox = Sandbox(
                PROJECT_DIR,
                stack,
                overrides,
                port=port,
                state_dir=state_dir,
                echo_logs=echo_logs,
                cancel=stop_requested,
            )
        _serve_sandbox(console, sandbox, state_dir, stop_requested)
    except StartCancelled:
        raise click.exceptions.Abort from None
    console.print("stopped")


def _serve_sandbox(console: Console, sandbox: Any, state_dir: Path, stop_requested: threading.Event) -> None:
    with (
        _sandbox_errors(),
        sandbox as running,
    ):
        assert running.deployment is not None
        for warning in running.deployment.warnings:
            console.print(f"warning: {warning}")
        console.print(f"outputs: {state_dir / 'outputs.json'}")
        console.print(f"ready {running.endpoint.url}", soft_wrap=True)
        stop_requested.wait()
        console.print("stopping")


@sandbox.command("update")
@click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_STATE_DIR, show_default=True
)
@click.option(
    "--config", "settings", multiple=True, metavar="KEY=VALUE", help="as `pulumi up --config` (repeatable; kept)"
)
@project_dir_option(" to apply")
def sandbox_update(state_dir: Path, settings: tuple[str, ...], project_dir: Path) -> None:
    """Apply the program in the project directory (the working tree), with --config on top of the sandbox's
    config, to the running sandbox while it serves, as `pulumi up` would: prints the plan, then each step
    applied, then "update applied".

    Orders keep flowing: a changed function's new invocations run the new version, those under way finish
    on the old one. Exit 1, with nothing changed, when the engine would refuse a step (a protected resource
    replaced or deleted) or a step would lose data (an unprotected table or queue replaced or deleted)."""
    from orderctl.update import update_lines  # loads Pulumi's SDK: only when needed
    from sandbox.update import UpdateError, request_update

    overrides = _parse_config(settings)
    endpoint = resolve(state_dir, None, None).endpoint
    assert endpoint is not None  # a sandbox target always has one
    try:
        outcome = request_update(endpoint, project_dir, overrides)
    except UpdateError as error:
        raise OrderctlError(f"the update failed: {error}") from None
    for line in update_lines(outcome):
        click.echo(line)
    if outcome.refusal:
        raise OrderctlError(outcome.refusal)
    click.echo("update applied")


@sandbox.command("down")
@click.option(
    "--state-dir", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_STATE_DIR, show_default=True
)
@click.option("--timeout", type=click.FloatRange(1, 600), default=60, show_default=True, help="seconds to wait")
def sandbox_down(state_dir: Path, timeout: float) -> None:
    """Stop the sandbox serving STATE_DIR (one started in the background): SIGTERM, then wait for it to exit."""
    from sandbox.runner import state_dir_holder

    pid = state_dir_holder(state_dir)
    if pid is None:
        raise OrderctlError(f"no sandbox is running with state dir {state_dir}")
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while state_dir_holder(state_dir) == pid or _alive(pid):
        if time.monotonic() > deadline:
            raise OrderctlError(f"the sandbox (pid {pid}) did not stop within {timeout:.0f} s")
        time.sleep(0.1)
    _console().print(f"stopped the sandbox (pid {pid}) with state dir {state_dir}")


def _alive(pid: int) -> bool:
    """Still running: an exited process its parent has not reaped yet (a zombie) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@cli.command()
@click.option("--stack", default="dev", show_default=True, help="the stack (Pulumi.<stack>.yaml) to check")
@project_dir_option()
@click.option("--config", "settings", multiple=True, metavar="KEY=VALUE", help="as `pulumi up --config` (repeatable)")
def preflight(stack: str, project_dir: Path, settings: tuple[str, ...]) -> None:
    """Check a stack's config as `pulumi preview` would, and show where each value comes from.

    Exit 0 with the resolved config; exit 1 with one line per problem: the Pulumi CLI's rules first,
    then (for this project) the program's own."""
    from orderctl.preflight import preflight as check  # loads Pulumi's SDK: only when needed

    result = check(project_dir, stack, _parse_config(settings))
    console = _console()
    if not result.ok:
        for line in result.problem_lines():
            click.echo(f"orderctl preflight: {line}", err=True)
        sys.exit(1)
    assert result.resolved is not None
    table = Table(title=f"stack {stack}: the config the program receives")
    for column in ("key", "value", "source"):
        table.add_column(column, overflow="fold")
    for value in result.resolved.values.values():
        shown = "[secret]" if value.secret else value.value
        table.add_row(value.key, "(encrypted)" if shown is None else shown, value.source.value)
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)
    console.print(f"preflight passed: stack {stack}")


@cli.command("capacity")
@click.option("--stack", default="dev", show_default=True, help="the stack (Pulumi.<stack>.yaml) to judge")
@click.option("--rate", "rate_text", required=True, help="the target, orders per second (10000/s, or 600000/min)")
@click.option("--burst", "burst_text", help="the target rate lasts this long (5m, 300s); without it, it is sustained")
@click.option("--baseline", "baseline_text", default="0", show_default=True, help="orders/s before and after a burst")
@click.option("--max-age", type=click.FloatRange(1), default=60, show_default=True, help="oldest order allowed, s")
@click.option("--memory", type=click.IntRange(128, 10240), help="the function's memory (MB) instead of the stack's")
@click.option("--account-concurrency", type=click.IntRange(1), help="the account's Lambda concurrency [default: 1000]")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the tables")
@project_dir_option()
def capacity_command(
    *,
    stack: str,
    rate_text: str,
    burst_text: str | None,
    baseline_text: str,
    max_age: float,
    memory: int | None,
    account_concurrency: int | None,
    as_json: bool,
    project_dir: Path,
) -> None:
    """What a stack's config carries (docs/capacity.md): its sustainable rate and first limit, a burst's backlog,
    oldest order and drain time, the cost per million orders by service, and the smallest config change (with
    the AWS quota increases it needs) that meets the target."""
    from capacity.answer import Target
    from orderctl.capacity import capacity_answer, parse_duration, parse_rate, print_answer

    try:
        burst = parse_duration(burst_text) if burst_text else None
        target = Target(parse_rate(rate_text), burst, parse_rate(baseline_text), max_age)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error
    found = capacity_answer(project_dir, stack, target, memory_mb=memory, account_concurrency=account_concurrency)
    if as_json:
        click.echo(_json(found.to_json()))
    else:
        print_answer(found, _console())


@cli.command("preview")
@click.option("--stack", default="dev", show_default=True, help="the stack whose config both versions deploy")
@click.option("--base", "base_ref", help="the git ref deployed now  [default: the merge base with main]")
@click.option(
    "--config", "settings", multiple=True, metavar="KEY=VALUE", help="as `pulumi preview --config` (repeatable)"
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of the preview")
@project_dir_option(", in a git repository")
@click.option(
    "--sandbox",
    "sandbox_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="a running sandbox (state dir): count what each data-loss step would delete",
)
def preview_command(
    *,
    stack: str,
    base_ref: str | None,
    settings: tuple[str, ...],
    as_json: bool,
    project_dir: Path,
    sandbox_dir: Path | None,
) -> None:
    """What `pulumi up` would do to a stack deployed from BASE if the working tree were deployed instead,
    as `pulumi preview` shows it: every create, update, replace and delete, with the properties that cause it.

    Exit 1 when a step would destroy data (replace or delete an unprotected table or queue) or when the
    engine would refuse a step (a protected resource replaced or deleted); exit 0 otherwise."""
    from orderctl import preview as render  # loads Pulumi's SDK: only when needed
    from sandbox.plan import merge_base, preview

    plan = preview(project_dir, stack, base_ref or merge_base(project_dir), _parse_config(settings))
    held = None
    if sandbox_dir is not None:
        pipeline = Pipeline(resolve(sandbox_dir, None, None))
        held = pipeline.held
    counts = render.held_counts(plan, held)
    if as_json:
        click.echo(_json(render.as_json(plan, counts)))
    else:
        for line in render.lines(plan, counts):
            click.echo(line)
    sys.exit(plan.exit_code)


@cli.command()
@click.option("--order", "order_text", help="one order as JSON")
@click.option("--file", "orders_file", type=click.File("r"), help="orders as JSON lines")
@click.option("--sample", type=click.IntRange(1, 100_000), help="this many generated sample orders")
@click.option("--raw", is_flag=True, help="publish as given, even what the processor will reject (to test the DLQ)")
@targeted
def publish(connect: Connect, order_text: str | None, orders_file: Any, sample: int | None, raw: bool) -> None:
    """Publish orders to the order topic."""
    if sum(x is not None for x in (order_text, orders_file, sample)) != 1:
        raise OrderctlError("give exactly one of --order JSON, --file FILE, --sample N")
    if order_text is not None:
        bodies = [order_text]
    elif orders_file is not None:
        bodies = [line.rstrip("\n") for line in orders_file if line.strip()]
    else:
        rng = random.Random()
        bodies = [to_json(sample_order(rng, number)) for number in range(1, (sample or 0) + 1)]
    if not raw:
        for number, body in enumerate(bodies, start=1):
            problem = problem_with(body)
            if problem:
                where = f"order {number}" if len(bodies) > 1 else "the order"
                raise OrderctlError(f"{where} would be rejected: {problem} (publish it anyway with --raw)")
    pipeline = connect()
    console = _console()
    with Progress(console=console, transient=True, disable=len(bodies) < 50) as progress:
        task = progress.add_task("publishing", total=len(bodies))
        message_ids = pipeline.publish(bodies, lambda done: progress.advance(task, done))
    console.print(f"published {len(message_ids)} order(s) to {pipeline.target.output(outputs.TOPIC_ARN)}")


@cli.group()
def orders() -> None:
    """Look up stored orders."""


@orders.command("get")
@click.argument("order_id")
@targeted
def orders_get(connect: Connect, order_id: str) -> None:
    """Print one order as stored (with its _pipeline metadata)."""
    pipeline = connect()
    order = pipeline.order(order_id)
    if order is None:
        raise OrderctlError(f"order {order_id!r} is not in {pipeline.target.output(outputs.TABLE_NAME)}")
    click.echo(_json(order))


@orders.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@targeted
def orders_list(connect: Connect, limit: int, as_json: bool) -> None:
    """List stored orders."""
    pipeline = connect()
    found = pipeline.orders(limit)
    if as_json:
        click.echo(_json(found))
        return
    total = pipeline.order_count() if len(found) == limit else None
    _console().print(orders_table(found, total if total is not None and total > len(found) else None))


@cli.group()
def dlq() -> None:
    """Inspect, redrive or purge the dead-letter queue."""


_SOURCE = click.option(
    "--source",
    type=click.Choice(DLQ_SOURCES),
    default=ORDER_DLQ,
    show_default=True,
    help="order: the order queue's DLQ (failed processing); subscription: the SNS subscription's (failed delivery)",
)


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_SOURCE
@targeted
def dlq_list(connect: Connect, as_json: bool, source: str) -> None:
    """Each message in the DLQ: its order, receives, first and last failure, and the reason the processor logged
    (--source subscription: the reason SNS logged for the failed delivery)."""
    letters = connect().dead_letters(source)
    if as_json:
        click.echo(_json([_dead_letter_json(letter) for letter in letters]))
        return
    _console().print(dead_letters_table(letters))


def _dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "messageId": letter.message_id,
        "order": letter.order_text,
        "receiveCount": receives(letter),  # when dead-lettered, as the table shows
        "sentAt": letter.sent_at.isoformat() if letter.sent_at else None,
        "attempts": [
            {"attempt": a.number, "at": a.at.isoformat() if a.at else None, "failure": a.failure, "reason": a.reason}
            for a in letter.attempts
        ],
        "reason": letter.reason,
        "source": letter.source,
    }


@dlq.command("redrive")
@click.option("--max", "limit", type=click.IntRange(1, None), help="move at most this many")
@_SOURCE
@targeted
def dlq_redrive(connect: Connect, limit: int | None, source: str) -> None:
    """Move messages back to the order queue for another try (from either DLQ: both hold processable orders)."""
    pipeline = connect()
    console = _console()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("redriving", total=limit)
        result = pipeline.redrive(limit, lambda done: progress.advance(task, done), source)
    if result.moved is None:
        console.print(f"started {result.method}: the DLQ's messages move back to the order queue")
    else:
        console.print(f"moved {result.moved} message(s) back to the order queue ({result.method})")
    if result.failed:
        raise OrderctlError(f"{result.failed} message(s) could not be sent and stay in the DLQ")


@dlq.command("purge")
@click.option("--yes", is_flag=True, help="confirm: the messages are deleted for good")
@targeted
def dlq_purge(connect: Connect, yes: bool) -> None:
    """Delete everything in the DLQ."""
    if not yes:
        raise OrderctlError("purging deletes the dead-lettered orders for good; confirm with --yes")
    click.echo(f"purged the DLQ ({connect().purge_dlq()} message(s))")


@cli.command()
@targeted
def status(connect: Connect) -> None:
    """Queue depth, in flight, DLQ depth, table items, alarm states, cold starts, event source errors."""
    pipeline = connect()
    now = pipeline.status()
    table = Table("what", "value")
    table.add_row("order queue: waiting", str(now.queue_visible))
    table.add_row("order queue: in flight", str(now.queue_in_flight))
    table.add_row("dead-letter queue", str(now.dlq_visible + now.dlq_in_flight))
    table.add_row("subscription DLQ (SNS could not deliver)", str(now.subscription_dlq))
    table.add_row("orders in the table", f"{now.table_items} (DynamoDB's approximate count)")
    for name, state in now.alarms:
        table.add_row(f"alarm {name}", state)
    for what, value in pipeline.runtime_rows():
        table.add_row(what, value)
    for row in _delivery_rows(pipeline):
        table.add_row(*row)
    _console().print(table)


def _delivery_rows(pipeline: Pipeline) -> list[tuple[str, str]]:
    """SNS drops what a queue policy refuses without telling the publisher: its failure count is the sign."""
    failed = pipeline.failed_deliveries()
    hint = " (does the queue policy still allow the topic?)" if failed else ""
    return [("SNS deliveries failed, 24 h", f"{failed}{hint}")]


@cli.group()
def iam() -> None:
    """What the function's execution role was granted, against what it used (sandbox only)."""


@iam.command("report")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
@targeted
def iam_report(connect: Connect, as_json: bool) -> None:
    """Grants of the function's role no call used, and calls it made that were denied (exit 1 if any)."""
    from sandbox.iam import fetch_ledger, report, role_policies  # loads moto: only when needed

    target = connect().target
    if target.endpoint is None:
        raise OrderctlError("the permission ledger is kept by the sandbox's emulator; target a sandbox (--sandbox)")
    function = target.client("lambda").get_function(FunctionName=target.output(outputs.FUNCTION_NAME))
    role_arn = str(function["Configuration"]["Role"])
    policies = list(role_policies(target.client("iam"), role_arn.rsplit("/", 1)[-1]))
    found = report(role_arn, policies, fetch_ledger(target.endpoint))
    if as_json:
        click.echo(_json({"role": role_arn, "unused": [vars(g) for g in found.unused],
                          "denied": [vars(c) for c in found.denied]}))  # fmt: skip
    else:
        console = _console()
        console.print(f"role {role_arn}")
        unused = Table("grant never used: action", "resource", title=f"{len(found.unused)} unused grant(s)")
        for grant in found.unused:
            unused.add_row(grant.action, grant.resource)
        denied = Table("call denied: action", "resource", "principal", title=f"{len(found.denied)} denied call(s)")
        for call in found.denied:
            denied.add_row(call.action, call.resource, call.principal)
        console.print(unused, denied)
    if not found.least_privilege:
        sys.exit(1)


_EXPECTED = (OrderctlError, PlanError, BotoCoreError, ClientError, OSError)


def _one_line(error: BaseException) -> str:
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach {error.kwargs.get('endpoint_url')}: is the sandbox running? (orderctl sandbox up)"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found for this target"
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"AWS refused {error.operation_name}: {details.get('Code')}: {details.get('Message')}"
    if not isinstance(error, _EXPECTED):
        return f"unexpected {type(error).__name__}: {' '.join(str(error).split())} (orderctl --debug shows where)"
    return " ".join(str(error).split())


def main() -> None:
    """Entry point: every expected failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.UsageError as error:
        click.echo(f"orderctl: {error.format_message()} (see --help)", err=True)
        sys.exit(2)
    except click.ClickException as error:
        click.echo(f"orderctl: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except _EXPECTED as error:  # raised outside a command (while click parses), so not yet one line
        click.echo(f"orderctl: {_one_line(error)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
