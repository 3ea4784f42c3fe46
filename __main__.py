"""Deploys one stack of the order pipeline: SNS -> SQS (+DLQ) -> Lambda -> DynamoDB."""

from pathlib import Path

import pulumi

from infra import OrderPipeline, OrderPipelineArgs, load_config

config = load_config()
pipeline = OrderPipeline(f"orders-{config.stack}", OrderPipelineArgs(config=config, project_dir=Path(__file__).parent))

pulumi.export("tableName", pipeline.table.table.name)
pulumi.export("tableArn", pipeline.table.table.arn)
pulumi.export("topicArn", pipeline.topic.topic.arn)
pulumi.export("queueUrl", pipeline.queues.queue.url)
pulumi.export("queueArn", pipeline.queues.queue.arn)
pulumi.export("deadLetterQueueUrl", pipeline.queues.dead_letter_queue.url)
pulumi.export("deadLetterQueueArn", pipeline.queues.dead_letter_queue.arn)
pulumi.export("functionName", pipeline.processor.function.name)
pulumi.export("functionArn", pipeline.processor.function.arn)
pulumi.export("logGroupName", pipeline.processor.log_group.name)
pulumi.export("alarmTopicArn", pipeline.alarms.topic.arn)
