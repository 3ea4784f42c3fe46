"""The event source mapping that feeds queue batches to the processor."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class QueueEventSourceArgs:
    queue: aws.sqs.Queue
    function: aws.lambda_.Function
    # The mapping is refused until the role can read the queue, so it waits for the role's policy.
    role_policy: aws.iam.RolePolicy
    batch_size: int
    batching_window_seconds: int
    maximum_concurrency: int


class QueueEventSource(pulumi.ComponentResource):
    mapping: aws.lambda_.EventSourceMapping

    def __init__(self, name: str, args: QueueEventSourceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:QueueEventSource", name, None, opts)
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-event-source",
            event_source_arn=args.queue.arn,
            function_name=args.function.arn,
            batch_size=args.batch_size,
            maximum_batching_window_in_seconds=args.batching_window_seconds,
            # Without it a returned failure list is ignored and the whole batch is deleted.
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=aws.lambda_.EventSourceMappingScalingConfigArgs(
                maximum_concurrency=args.maximum_concurrency
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.role_policy]),
        )
        self.register_outputs({"eventSourceMappingId": self.mapping.uuid})
