"""Benchmarks of xadv's core against the libraries it wraps (run ``python -m bench``).

Not tests: nothing here runs under pytest. ``timing.compare`` is the shared timer; each benchmark
module registers one entry in ``bench.__main__.BENCHMARKS``.
"""
