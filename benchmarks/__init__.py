"""Benchmarks: `python -m benchmarks [--smoke]` from the repository root (make bench / make bench-smoke).

See benchmarks/README.md. `python -m benchmarks.files_rss` still runs the layer-listing memory
benchmark on its own.

Every client that measures the network passes `cache=False`: the on-disk cache (rx.Cache, issue 12)
would otherwise answer manifests, configs and layer indexes from an earlier round. Case 7 (peek)
measures the cache on purpose and names its cache directory.
"""
