"""SNS -> SQS without the queue policy: on AWS every delivery would be dropped silently."""

import pulumi
import pulumi_aws as aws

topic = aws.sns.Topic("orders-topic")
queue = aws.sqs.Queue("orders-queue")
aws.sns.TopicSubscription("orders-subscription", topic=topic.arn, protocol="sqs", endpoint=queue.arn)
pulumi.export("queueUrl", queue.url)
