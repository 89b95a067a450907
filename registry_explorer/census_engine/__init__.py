"""A census of a whole registry: work units per (repository, tag), run on threads, processes or Dask.

`run` plans and runs it, `unit` is one picklable, secret-free unit of work, `store` streams the tables
to Parquet with a resume journal. The pure analyses are in `frames/census_tables.py`.
"""
