"""One image's merged filesystem: the one resolver and the one file reader of the package.

Every door (read_file/open_file, `docker://`, `rx cat`, `%rx`, the Explorer's preview, the listings)
asks this folder for a path, so the same path gives the same bytes or the same error everywhere.
"""
