"""Benchmarks of xadv's core against the libraries it wraps (run ``python -m bench``).

Not tests: nothing here runs under pytest. ``timing.compare`` is the shared timer; each benchmark
module ``bench/bench_<name>.py`` is the benchmark ``<name>``: its ``from_args(args)`` runs it (``bench.__main__``).
"""
