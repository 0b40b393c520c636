"""Evaluation: full-reference and no-reference quality, LR-consistency, benchmarks, reports."""
