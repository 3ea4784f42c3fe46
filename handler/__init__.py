"""The order processor Lambda: SQS batch in, validated orders stored in DynamoDB."""
