"""Deploys one stack of the order pipeline: SNS -> SQS (+DLQ) -> Lambda -> DynamoDB."""

from pathlib import Path

import pulumi

from infra import PIPELINE_NAME, OrderPipeline, OrderPipelineArgs, load_config

config = load_config()
pipeline = OrderPipeline(PIPELINE_NAME, OrderPipelineArgs(config=config, project_dir=Path(__file__).parent))

for name, value in pipeline.stack_outputs.items():
    pulumi.export(name, value)
