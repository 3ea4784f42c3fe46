"""The order processor: the Lambda function, its least-privilege role and its log group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from infra.packaging import function_code
from infra.policy_documents import processor_policy, service_assume_role_policy

HANDLER = "handler.app.lambda_handler"
RUNTIME = "python3.12"
ARCHITECTURE = "arm64"
METRICS_NAMESPACE = "OrderPipeline"


@dataclass(frozen=True)
class OrderProcessorArgs:
    project_dir: Path
    function_name: str
    """Physical name, unique per project and stack (infra.config.function_name); checked against Lambda's limit."""
    table: aws.dynamodb.Table
    queue: aws.sqs.Queue
    timeout_seconds: int
    memory_mb: int
    max_receive_count: int
    log_level: str
    log_retention_days: int
    data_protection: bool
    """`retainOnDelete` on the log group: a replaced or retired stack's logs stay until their retention ends."""


class OrderProcessor(pulumi.ComponentResource):
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    function: aws.lambda_.Function

    def __init__(self, name: str, args: OrderProcessorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrderProcessor", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        logical = f"{name}-processor"
        # Created up front with a retention period, instead of Lambda creating one that keeps logs forever.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{logical}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.data_protection),
        )
        self.role = aws.iam.Role(
            f"{logical}-role", assume_role_policy=service_assume_role_policy("lambda.amazonaws.com"), opts=child
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{logical}-policy",
            role=self.role.id,
            policy=processor_policy(args.table.arn, args.queue.arn, self.log_group.arn),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            logical,
            name=args.function_name,
            role=self.role.arn,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            code=function_code(args.project_dir),
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "TABLE_NAME": args.table.name,
                    "MAX_RECEIVE_COUNT": str(args.max_receive_count),
                    "POWERTOOLS_SERVICE_NAME": name,
                    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                    "LOG_LEVEL": args.log_level,
                }
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON",
                log_group=self.log_group.name,
                application_log_level=args.log_level,
                # INFO keeps Lambda's platform.report records: duration, memory used and init duration
                # (cold starts), which `orderctl status` and memory tuning read. WARN would drop them.
                system_log_level="INFO",
            ),
            # Without its permissions in place, the first invocations would fail to log or to write.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, self.log_group]),
        )
        self.register_outputs(
            {
                "functionName": self.function.name,
                "functionArn": self.function.arn,
                "logGroupName": self.log_group.name,
            }
        )
