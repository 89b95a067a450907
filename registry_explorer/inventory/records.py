"""One installed package as a database says it, and the checks every parser shares.

A package database inside an image is input like a manifest: whoever built the image chose its bytes.
Every parser therefore bounds what it reads (the limits below, each with its reason), checks every field
it keeps, and raises only `InvalidManifest` (bytes that are not the database they claim to be) or
`TooLarge` (past a named limit) -- or `UnsupportedDatabase`, an `InvalidManifest` that names a real
format this package recognises but does not read (rpm's Berkeley DB and ndb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.errors import InvalidManifest, TooLarge

# The largest real text databases are a few MB: dpkg's status on a full desktop (~3,000 packages) is
# ~4 MB, Alpine's installed db lists every file of every package (~10 MB on big images). 64 MiB is
# ten times that and still cannot exhaust a laptop.
MAX_TEXT_DATABASE_BYTES = 64 << 20
# One package's metadata file (METADATA, PKG-INFO, package.json) carries the long description (a
# README): the largest real ones are around 1 MB.
MAX_METADATA_BYTES = 16 << 20
# A field we keep (name, version, architecture, source, licence). Licences are the long ones: Fedora's
# kernel licence string is ~1 KB and some Python packages put a whole licence text (~30 KB) into
# `License:`; names and versions are far shorter.
MAX_FIELD_CHARS = 64 << 10
# Packages in one database: a full Fedora or Debian desktop has ~5,000; 200,000 is an attack.
MAX_PACKAGES = 200_000

# C0 controls and DEL, except tab and newline (a folded licence text keeps its lines): shown on a
# terminal they could rewrite the screen, so a field holding them is refused, not passed on.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class UnsupportedDatabase(InvalidManifest):
    """A real package database in a format that is recognised but deliberately not read.

    `.format` names it (e.g. ``rpm-bdb``, ``rpm-ndb``) so a listing can say "not read" instead of
    silently reporting no packages.
    """

    def __init__(self, message: str, *, format: str, path: str):
        self.format = format
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class PackageRecord:
    """One installed package, as the database at `database` lists it.

    `ecosystem` is deb, rpm, apk, python, npm or java. `version` is the package manager's own
    spelling (rpm: ``V-R`` or ``E:V-R``). `architecture`, `source_package` and `license` are None
    where the database does not say.
    """

    ecosystem: str
    name: str
    version: str
    architecture: str | None
    source_package: str | None
    license: str | None
    database: str


def check_size(data: bytes, limit: int, what: str) -> None:
    """TooLarge when `data` is past `limit` (checked before any parsing)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) > limit:
        raise TooLarge(what, limit, len(data))


def decode_text(data: bytes, what: str) -> str:
    """UTF-8 text of a database, or InvalidManifest naming it."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidManifest(f"{what}: not UTF-8 text at byte {exc.start}")


def field(value: object, what: str, *, required: bool = True, pattern: re.Pattern[str] | None = None) -> str | None:
    """A checked text field: a string, bounded, without control characters, matching `pattern`.

    Surrounding whitespace is stripped. An absent or empty value is None, or InvalidManifest when
    `required`.
    """
    if value is None:
        if required:
            raise InvalidManifest(f"{what} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidManifest(f"{what} is not text ({type(value).__name__})")
    if len(value) > MAX_FIELD_CHARS:
        raise TooLarge(what, MAX_FIELD_CHARS, len(value))
    value = value.strip()
    if not value:
        if required:
            raise InvalidManifest(f"{what} is empty")
        return None
    if _CONTROL.search(value):
        raise InvalidManifest(f"{what} holds control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidManifest(f"{what} {value[:80]!r} is not well-formed")
    return value


def count_guard(records: list[PackageRecord], what: str) -> None:
    """TooLarge once a database has listed more than MAX_PACKAGES packages."""
    if len(records) > MAX_PACKAGES:
        raise TooLarge(f"{what} package count", MAX_PACKAGES, len(records))
