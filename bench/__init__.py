"""Sentrio's benchmarks: the same static programs natively, under gVisor and under Sentrio.

Run ``python -m bench.run`` (see ``bench/README.md``). Benchmarks live here, never in ``tests/``:
their figures are reported as ratios from one run on one machine, and nothing asserts on timing.
"""
