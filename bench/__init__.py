"""Benchmarks behind ``make bench``: one ``bench_<area>.py`` per area, run by ``bench.run``."""
