"""Names of the figures the sandbox's event source pollers publish as CloudWatch metrics, for orderctl to read."""

METRICS_NAMESPACE = "OrderPipeline/Sandbox"
RECEIVE_ERRORS_METRIC = "ReceiveErrors"
DELETE_FAILURES_METRIC = "DeleteFailures"
