"""photomend benchmark suite: quality and cost against ground truth and peers.

Run ``python -m benchmarks --task all --quick``; see ``benchmarks/README.md``.
"""
