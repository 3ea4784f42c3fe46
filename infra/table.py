"""The orders table: one item per order, keyed by orderId."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class OrdersTableArgs:
    point_in_time_recovery: bool
    data_protection: bool
    """DynamoDB deletion protection, Pulumi `protect` (a replace or delete is refused at preview) and
    `retainOnDelete` (leaving the stack never deletes the table). Default in config: false (prod: true)."""
    warm_write_units: int = 0
    """Write units/s the table serves at once (DynamoDB warm throughput), set ahead of a known peak; 0 leaves it
    to DynamoDB (4,000 for a new on-demand table). It can only grow: lowering it replaces the table."""


class OrdersTable(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(self, name: str, args: OrdersTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orders:index:OrdersTable", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            hash_key="orderId",
            attributes=[aws.dynamodb.TableAttributeArgs(name="orderId", type="S")],
            billing_mode="PAY_PER_REQUEST",
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=args.point_in_time_recovery),
            deletion_protection_enabled=args.data_protection,
            warm_throughput=(
                aws.dynamodb.TableWarmThroughputArgs(write_units_per_second=args.warm_write_units)
                if args.warm_write_units
                else None
            ),
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.data_protection, retain_on_delete=args.data_protection
            ),
        )
        self.register_outputs({"tableName": self.table.name, "tableArn": self.table.arn})
