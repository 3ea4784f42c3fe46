"""Pulumi components for the order pipeline; `__main__.py` composes them through OrderPipeline."""

from infra.config import ConfigError, PipelineConfig, load_config, parse_config
from infra.pipeline import NAME as PIPELINE_NAME
from infra.pipeline import OrderPipeline, OrderPipelineArgs

__all__ = [
    "PIPELINE_NAME",
    "ConfigError",
    "OrderPipeline",
    "OrderPipelineArgs",
    "PipelineConfig",
    "load_config",
    "parse_config",
]
