"""Alpine's database: `lib/apk/db/installed`.

The format, from the Alpine wiki's "Apk spec" (and apk-tools' database.c it cites): one record per
installed package, records separated by an empty line, each line ``X:value`` with a one-letter field
key. ``P`` name, ``V`` version, ``A`` architecture, ``L`` licence, ``o`` origin (the source package,
the aport that built it), ``C`` checksum, ``T`` description, ``D`` dependencies; per-file lines
(``F`` folder, ``R`` file, ``M``/``a`` modes, ``Z`` checksums) follow the package lines. Capital
letters are mandatory fields, lower-case ones optional. Every record is an installed package.

apk itself is not packaged for Debian, so the test fixtures of this parser are written from that
documentation, not by apk (tests/helpers/packagedbs_lang.py says the same).
"""

from __future__ import annotations

import re

from ..core.errors import InvalidManifest
from .records import MAX_TEXT_DATABASE_BYTES, PackageRecord, check_size, count_guard, decode_text, field

# apk-tools' name and version rules (apk_pkg_valid_name-like; version.c): no whitespace or '/'.
_NAME = re.compile(r"[A-Za-z0-9_+.][A-Za-z0-9_+.@:-]*")
_VERSION = re.compile(r"[0-9A-Za-z._+~-]+")
_ARCH = re.compile(r"[A-Za-z0-9_-]+")
_KEY = re.compile(r"[A-Za-z]")


def parse_apk_installed(data: bytes, path: str) -> list[PackageRecord]:
    """Every package of an apk `installed` database; `path` names it in each record."""
    what = f"apk database {path}"
    check_size(data, MAX_TEXT_DATABASE_BYTES, what)
    text = decode_text(data, what)
    records: list[PackageRecord] = []
    fields: dict[str, str] = {}
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            if fields:
                records.append(_record(fields, f"{what} record at line {first}", path))
                count_guard(records, what)
            fields = {}
            continue
        key, colon, value = line.partition(":")
        if not colon or not _KEY.fullmatch(key):
            raise InvalidManifest(f"{what} line {number}: not an 'X:value' line")
        if not fields:
            first = number
        elif key == "P" and "P" in fields:
            raise InvalidManifest(f"{what} line {number}: a second package (P:) without the empty line that ends a record")
        # Per-file keys (F, R, M, a, Z, ...) repeat within a record; the package keys come first and
        # once, so the first value of a key is the package's.
        fields.setdefault(key, value)
    if fields:
        records.append(_record(fields, f"{what} record at line {first}", path))
        count_guard(records, what)
    return records


def _record(fields: dict[str, str], what: str, path: str) -> PackageRecord:
    name = field(fields.get("P"), f"{what}: P (name)", pattern=_NAME)
    version = field(fields.get("V"), f"{what}: V (version) of {name}", pattern=_VERSION)
    arch = field(fields.get("A"), f"{what}: A (architecture) of {name}", required=False, pattern=_ARCH)
    license_ = field(fields.get("L"), f"{what}: L (licence) of {name}", required=False)
    origin = field(fields.get("o"), f"{what}: o (origin) of {name}", required=False, pattern=_NAME)
    assert name is not None and version is not None
    return PackageRecord("apk", name, version, arch, origin, license_, path)
