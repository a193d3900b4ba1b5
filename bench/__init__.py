"""Benchmarks of the framework, run with `scripts/bench` (`python -m bench`).

Not installed with the package: the benchmarks are scripts that measure,
not tests. They write docs/benchmarks.md and plots beside it.
"""
