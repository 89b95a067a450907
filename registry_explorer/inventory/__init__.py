"""What is installed in an image, read from its package databases (issue 25): pure parsers.

Each parser is ``parse_...(data: bytes, path: str) -> list[PackageRecord]``: the bytes of one database
file and its path in the image (which names the database in each record). They read nothing else, do
no I/O but rpm's private temporary copy, and raise only `InvalidManifest` (including
`UnsupportedDatabase` for rpm's Berkeley DB and ndb formats) or `TooLarge`.

`parser_for(path)` says which parser reads a path of an image's merged filesystem, or None; the
image-level code (which layer, reading through the peek machinery) is built on top of it. Python is
the one ecosystem where files must be combined: `distinct_per_site` keeps one record per distribution
name and site directory, as pip lists them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import dpkg, rpmdb  # noqa: F401 - modules the tests patch limits on
from .apk import parse_apk_installed
from .dpkg import parse_dpkg_status
from .ecosystems import parse_java_archive, parse_npm_package_json
from .python_dists import distinct_per_site, metadata_kind, parse_python_metadata
from .records import PackageRecord, UnsupportedDatabase
from .rpmdb import parse_rpmdb

__all__ = [
    "PackageRecord",
    "distinct_per_site",
    "UnsupportedDatabase",
    "parse_apk_installed",
    "parse_dpkg_status",
    "parse_java_archive",
    "parse_npm_package_json",
    "parse_python_metadata",
    "parse_rpmdb",
    "parser_for",
    "DATABASE_PATTERNS",
]

Parser = Callable[[bytes, str], "list[PackageRecord]"]

# Image paths (no leading slash) of the databases, as regular expressions over the whole path.
DATABASE_PATTERNS: list[tuple[str, re.Pattern[str], Parser]] = [
    ("deb", re.compile(r"var/lib/dpkg/status"), parse_dpkg_status),
    # distroless: one stanza per file; <name>.md5sums files beside them are not stanzas.
    ("deb", re.compile(r"var/lib/dpkg/status\.d/[^/]+(?<!\.md5sums)"), parse_dpkg_status),
    # rpm >= 4.16 (RHEL 9, Fedora 33+: var/lib/rpm; Fedora 36+, openSUSE: usr/lib/sysimage/rpm).
    ("rpm", re.compile(r"(?:var/lib/rpm|usr/lib/sysimage/rpm)/rpmdb\.sqlite"), parse_rpmdb),
    # Berkeley DB (Packages) and ndb (Packages.db): recognised, reported as UnsupportedDatabase.
    ("rpm", re.compile(r"(?:var/lib/rpm|usr/lib/sysimage/rpm)/Packages(?:\.db)?"), parse_rpmdb),
    ("apk", re.compile(r"lib/apk/db/installed"), parse_apk_installed),
    ("python", re.compile(r"(?:.+/)?(?:site|dist)-packages/[^/]+\.dist-info/METADATA"), parse_python_metadata),
    ("python", re.compile(r"(?:.+/)?(?:site|dist)-packages/[^/]+\.egg-info(?:/PKG-INFO)?"), parse_python_metadata),
    ("npm", re.compile(r"(?:.+/)?node_modules/(?:@[^/]+/)?[^/.@][^/]*/package\.json"), parse_npm_package_json),
    ("java", re.compile(r".+\.(?:jar|war|ear)"), parse_java_archive),
]


def parser_for(path: str) -> tuple[str, Parser] | None:
    """(ecosystem, parser) for an image path such as ``var/lib/dpkg/status``; None if it is no database.

    A leading ``/`` or ``./`` is ignored. A Python ``*.egg-info`` path is a database only as a file
    (distutils) or as the ``PKG-INFO`` inside the directory; the caller knows which it has.
    """
    clean = path.lstrip("/")
    while clean.startswith("./"):
        clean = clean[2:]
    for ecosystem, pattern, parser in DATABASE_PATTERNS:
        if pattern.fullmatch(clean):
            if ecosystem == "python" and metadata_kind(clean) is None:
                continue
            return ecosystem, parser
    return None
