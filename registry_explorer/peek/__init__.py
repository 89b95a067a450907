"""Random access into layer blobs: layer indexes, how they are built and stored, and ranged reads.

`index` is the data (where each file lives, how to get there), `build` makes one in the single
verified pass over a layer, `ranged` reads a file's bytes with Range requests through it, and the
TOC formats (`estargz`, `zstdchunked`, sharing `toc`: entries and reading a file by its chunks)
give an index without a full pass. Which index may serve which manifest is
decided in `trust` (the chain of trust each was built under); `indexes` keeps them per source, in the
stored form of `stored` (columns, and the gzip windows apart), and `zran` takes indexed_gzip's export
apart so that a read imports only the seek points it needs.
"""
