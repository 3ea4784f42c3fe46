"""`make mutate`: breaks one thing at a time in a scratch copy and checks that the tests notice.

Each mutation replaces a snippet of the product's code with a wrong version and runs the tests that
guard it; a mutation the tests do not catch is a gap in them. Slow (minutes), so not part of `make test`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    file: str
    original: str
    broken: str
    tests: str  # pytest arguments

    def label(self) -> str:
        return f"{self.file}: {' '.join(self.original.split())[:50]} -> {' '.join(self.broken.split())[:40]}"


INFRA = "tests/infra tests/security"
HANDLER = "tests/handler"
E2E = "tests/e2e/test_pipeline.py tests/sandbox"
DEPLOY_GUARDS = "tests/e2e/test_deploy_guards.py"
PLAN = "tests/plan tests/infra/test_day2.py"  # the policy check refuses a program there

# fmt: off
MUTATIONS = [
    # the program's wiring
    Mutation("infra/subscription.py", "endpoint=args.queue.arn", "endpoint=args.topic.arn", INFRA),
    Mutation("infra/subscription.py", "depends_on=[self.queue_policy, dead_letter_policy]", "depends_on=[]", INFRA),
    Mutation("infra/subscription.py", 'redrive_policy=pulumi.Output.json_dumps({"deadLetterTargetArn": self.dead_letter_queue.arn}),', "", INFRA),
    Mutation("infra/queues.py", '"maxReceiveCount": args.max_receive_count', '"maxReceiveCount": 5', INFRA),
    Mutation("infra/queues.py", '"sourceQueueArns": [self.queue.arn]', '"sourceQueueArns": []', INFRA),
    Mutation("infra/event_source.py", 'function_response_types=["ReportBatchItemFailures"],', "", INFRA),
    Mutation("infra/event_source.py", "depends_on=[args.role_policy]", "depends_on=[]", INFRA),
    Mutation("infra/policy_documents.py", '"Principal": {"Service": "sns.amazonaws.com"}', '"Principal": "*"', INFRA),
    Mutation("infra/policy_documents.py", '"aws:SourceArn": topic_arn', '"aws:SourceArn": queue_arn', INFRA),
    Mutation("contract/permissions.py", '("dynamodb:PutItem", "dynamodb:GetItem")', '("dynamodb:*",)', INFRA),
    Mutation("infra/processor.py", '"TABLE_NAME": args.table.name', '"TABLE_NAME": args.table.arn', INFRA),
    Mutation("infra/processor.py", "retention_in_days=args.log_retention_days", "retention_in_days=None", INFRA),
    Mutation("infra/table.py", "deletion_protection_enabled=args.data_protection", "deletion_protection_enabled=False", INFRA),
    Mutation("infra/table.py", "parent=self, protect=args.data_protection,", "parent=self, protect=False,", INFRA),
    Mutation("infra/queues.py", "holds_messages = pulumi.ResourceOptions(parent=self, protect=args.data_protection)", "holds_messages = pulumi.ResourceOptions(parent=self)", INFRA),
    Mutation("infra/pipeline.py", 'return [pulumi.Alias(name=f"{NAME}-{stack}")]', "return []", INFRA),
    Mutation("infra/config.py", "receives = min(max_receive_count, AGE_METRIC_RECEIVES)", "receives = max_receive_count", INFRA),
    Mutation("infra/config.py", "if deletion_protection and not emails:", "if False:", INFRA),
    Mutation("infra/config.py", "return 6 * function_timeout + batching_window", "return 5 * function_timeout", INFRA),
    Mutation("infra/packaging.py", '"__pycache__" not in relative.parts and ', "", INFRA),
    # the offline preview: the engine's rules
    Mutation("sandbox/pulumi_engine.py", "if goal.protect and old.protect:", "if False:", PLAN),
    Mutation("sandbox/pulumi_engine.py", "add(self.inherited(goal.type, goal.name, parent_name, parent_alias))", "pass", PLAN),
    Mutation("sandbox/pulumi_engine.py", "delete_before_replace=goal.delete_before_replace or", "delete_before_replace=", PLAN),
    Mutation("sandbox/plan_capture.py", "computed = {}", "pass", PLAN),
    # the processor
    Mutation("handler/store.py", 'ConditionExpression="attribute_not_exists(orderId)",', "", HANDLER),
    Mutation("handler/store.py", "if stored_hash == order.content_hash:", "if stored_hash:", HANDLER),
    Mutation("handler/order.py", "parse_float=Decimal,", "", HANDLER),
    Mutation("handler/order.py", "raise _DuplicateKeyError(key)", "pass", HANDLER),
    Mutation("handler/order.py", "return str(Decimal(value).normalize(_EXACT))", "return json.dumps(str(value))", HANDLER),
    Mutation("handler/failures.py", 'return Failure(Kind.PERMANENT, f"conflict: {error}")', 'return Failure(Kind.TRANSIENT, "")', HANDLER),
    Mutation("handler/app.py", "last = attempt >= MAX_RECEIVE_COUNT", "last = attempt > MAX_RECEIVE_COUNT", HANDLER),
    Mutation("handler/app.py", "if tally.redeliver_now:", "if False:", HANDLER),
    Mutation("handler/app.py", "if not ok", "if ok", HANDLER),
    Mutation("handler/envelope.py", '"TopicArn" in document', '"TopicArn" not in document', HANDLER),
    # the sandbox
    Mutation("sandbox/poller.py", 'return [message for message in batch if message["MessageId"] not in failed]', "return batch", E2E),
    Mutation("sandbox/poller.py", "return None  # an empty or unknown id", "continue  # an empty or unknown id", E2E),
    Mutation("sandbox/policy_check.py", "if not any(allows_topic(", "if False and not any(allows_topic(", DEPLOY_GUARDS),
    Mutation("sandbox/sqs_attributes.py", 'if name == "RedrivePolicy" and value:', "if False:", "tests/sandbox/test_sqs_attributes.py"),
    Mutation("sandbox/runner.py", "def _go_on(self) -> None:\n        if self.cancel.is_set():", "def _go_on(self) -> None:\n        if False:", DEPLOY_GUARDS),
    Mutation("orderctl/pipeline.py", "if done:\n                self._sqs.delete_message_batch", "if False:\n                self._sqs.delete_message_batch", E2E),
]
# fmt: on


def run_tests(tests: str, work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests.split()],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )


def passes(tests: str, work: Path) -> bool:
    return run_tests(tests, work).returncode == 0


def check_baselines(mutations: list[Mutation], work: Path) -> None:
    """Each test selection must pass on the unmutated copy: otherwise every mutation would look caught."""
    for tests in dict.fromkeys(mutation.tests for mutation in mutations):
        began = time.monotonic()
        finished = run_tests(tests, work)
        if finished.returncode != 0:
            tail = "\n".join(finished.stdout.strip().splitlines()[-15:])
            print(tail)
            raise SystemExit(
                f"baseline failed: `pytest {tests}` fails without any mutation (exit {finished.returncode}); "
                "fix the tests first, a mutation run would mean nothing"
            )
        print(f"baseline ok   {time.monotonic() - began:5.1f}s pytest {tests}")


def check(mutation: Mutation, work: Path) -> tuple[bool, float]:
    path = work / mutation.file
    original = path.read_text()
    if mutation.original not in original:
        raise SystemExit(f"stale mutation, snippet not found: {mutation.label()}")
    path.write_text(original.replace(mutation.original, mutation.broken, 1))
    began = time.monotonic()
    try:
        caught = not passes(mutation.tests, work)
    finally:
        path.write_text(original)
    return caught, time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__)
    parser.add_argument("--only", default="", help="run the mutations whose file contains this text")
    arguments = parser.parse_args()
    chosen = [m for m in MUTATIONS if arguments.only in m.file]
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        work = Path(scratch) / "repo"
        shutil.copytree(
            ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", ".*cache", ".sandbox")
        )
        check_baselines(chosen, work)
        survivors = []
        for number, mutation in enumerate(chosen, start=1):
            caught, seconds = check(mutation, work)
            print(f"[{number}/{len(chosen)}] {'caught  ' if caught else 'SURVIVED'} {seconds:5.1f}s {mutation.label()}")
            if not caught:
                survivors.append(mutation)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutations caught")
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
