"""Fragrance AI operator: safe, metric-gated canary releases of a guarded LLM ensemble."""

__version__ = "0.1.0"
