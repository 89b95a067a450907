"""Where images come from: the `Source` protocol and its two implementations, behind the same signatures.

`remote.Client` (a registry, over `http/`) and `layout.Layout` (an OCI image layout directory) share
`common.SourceBase`: resolve, verified manifests and blobs, index walks, downloads (`blobcopy`), and
Range reads. The on-disk `cache` and safe `extract`ion live here because only sources write files.
"""
