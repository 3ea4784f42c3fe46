"""Pulumi components for the order pipeline; `__main__.py` composes them through OrderPipeline."""

from infra.config import ConfigError, PipelineConfig, load_config, parse_config
from infra.pipeline import OrderPipeline, OrderPipelineArgs

__all__ = ["ConfigError", "OrderPipeline", "OrderPipelineArgs", "PipelineConfig", "load_config", "parse_config"]
