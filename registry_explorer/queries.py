"""`rx.queries`, kept for code written against 0.1; it goes in 0.3.0.

The fetching halves of the frames now live with their features: every tag HEADed and the two
images of a comparison in `sources/batch.py`, the layer and image listings in `imagefs/listing.py`.
"""

from .imagefs.listing import image_entries, image_layers, layer_entries
from .sources.batch import TAG_WORKERS, image_pair, tag_rows

__all__ = ["TAG_WORKERS", "image_entries", "image_layers", "image_pair", "layer_entries", "tag_rows"]
