"""Deploys one stack of the order pipeline: SNS -> SQS (+DLQ) -> Lambda -> DynamoDB."""

from pathlib import Path

import pulumi

from infra import OrderPipeline, OrderPipelineArgs, load_config

config = load_config()
pipeline = OrderPipeline(f"orders-{config.stack}", OrderPipelineArgs(config=config, project_dir=Path(__file__).parent))

for name, value in pipeline.stack_outputs.items():
    pulumi.export(name, value)
