"""The three front doors over the same library calls: `docker://` (fsspec), `rx` (the CLI) and `%rx`.

`operations` holds the calls themselves (returning plain Python objects); `cli/`, `magic` and
`dockerfs` only parse arguments and show what those return.
"""
