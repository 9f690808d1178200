"""Benchmark of the pipeline against a hand-written DuckDB floor and a pandas implementation."""
