"""A queue-fed function whose role grants only `grantedActions` on the queue: Lambda refuses the mapping
unless ReceiveMessage, DeleteMessage and GetQueueAttributes are all granted. The role trusts `trustedService`
(Lambda unless set): Lambda refuses to create a function whose role it cannot assume."""

import json

import pulumi
import pulumi_aws as aws

granted = pulumi.Config().require("grantedActions").split(",")
trusted = pulumi.Config().get("trustedService") or "lambda.amazonaws.com"
queue = aws.sqs.Queue("queue")
role = aws.iam.Role(
    "role",
    assume_role_policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": trusted}, "Action": "sts:AssumeRole"}],
        }
    ),
)
policy = aws.iam.RolePolicy(
    "poll",
    role=role.name,
    policy=pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": granted, "Resource": queue.arn},
                # the sandbox's log router writes with the role, as Lambda does
                {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"},
            ],
        }
    ),
)
function = aws.lambda_.Function(
    "function",
    role=role.arn,
    runtime="python3.12",
    handler="app.handler",
    code=pulumi.AssetArchive({"app.py": pulumi.StringAsset("def handler(event, context):\n    return None\n")}),
)
aws.cloudwatch.LogGroup("logs", name=function.name.apply(lambda name: f"/aws/lambda/{name}"))
aws.lambda_.EventSourceMapping(
    "mapping",
    event_source_arn=queue.arn,
    function_name=function.name,
    opts=pulumi.ResourceOptions(depends_on=[policy]),
)
pulumi.export("queueUrl", queue.url)
