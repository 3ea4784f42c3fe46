"""The orders table: one item per order, keyed by orderId."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class OrdersTableArgs:
    point_in_time_recovery: bool
    deletion_protection: bool


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
            deletion_protection_enabled=args.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"tableName": self.table.name, "tableArn": self.table.arn})
