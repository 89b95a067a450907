"""Benchmarks: `python -m benchmarks [--smoke]` from the repository root (make bench / make bench-smoke).

See benchmarks/README.md. `python -m benchmarks.files_rss` still runs the layer-listing memory
benchmark on its own.
"""
