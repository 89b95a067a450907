"""The pure core: references, platforms, media types, digests, the models, the error tree and named limits.

Nothing here does I/O or imports an HTTP library (tests/test_structure.py checks it): these modules
are what every other folder builds on, and what a notebook can use without a registry.
"""
