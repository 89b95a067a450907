"""Named bounds on everything a server can make us hold, each with its reason.

A registry decides how big a manifest is, how many pages a list has and how long a tag
is; a hostile one picks the worst. Past a bound the answer is `TooLarge` (or a subclass),
never an exhausted machine.
"""

# The OCI distribution spec lets registries refuse manifests over 4 MiB; nothing real is larger.
MANIFEST_LIMIT = 4 << 20
# distribution caps `n` at 1000 for tags and catalog pages.
PAGE_SIZE = 1000
# One page of a list (tags, catalog, referrers) is a JSON document like a manifest.
PAGE_LIMIT = MANIFEST_LIMIT
# The largest real tag lists are about 100k tags (a few MB of JSON); 64 MiB over all pages
# leaves room for ten times that and still cannot exhaust a laptop.
LIST_BYTES_LIMIT = 64 << 20
# Items over all pages: a million tags or repositories is beyond any real registry's listing.
LIST_ITEMS_LIMIT = 1_000_000
# Referrers of one digest: signatures, SBOMs and attestations number in the tens; 100k is an attack.
REFERRERS_LIMIT = 100_000
# A hostile registry could paginate forever with tiny pages.
MAX_PAGES = 10_000
# Indexes may nest (an index of indexes, allowed by the image spec). Real ones nest 1-2 deep; walks keep
# a visited set, so depth costs little until it is an attack (a 1,100-deep chain).
MAX_INDEX_DEPTH = 64
# Manifests walked for one copy (save_layout): a big multi-platform index has a few dozen.
MAX_WALK_MANIFESTS = 10_000
