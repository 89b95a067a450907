"""rpm's database: `rpmdb.sqlite` (rpm >= 4.16: Fedora 33+, RHEL 9, openSUSE), read from bytes.

The file is an SQLite database whose table ``Packages(hnum, blob)`` holds one rpm header per
installed package (every header is an installed package: ``rpm -qa`` lists them all, gpg-pubkey
entries included). SQLite is the one part we do not write ourselves: Python's `sqlite3` reads the
bytes from a private temporary file opened read-only and immutable, with a bounded schema check and a
progress handler so a crafted database can neither run a view nor spin. The header blob is parsed
here (rpm's doc/manual/format.md, "Header"): a big-endian count of index entries and of data bytes,
16-byte index entries (tag, type, offset, count), then the data store.

The older formats are recognised and **not read**: Berkeley DB (`Packages`, rpm < 4.16: CentOS 7/8,
RHEL 7/8, Amazon Linux 2) and ndb (`Packages.db`, SUSE's rpm 4.15/4.16). Both raise
`UnsupportedDatabase` naming the format, so a listing can say so instead of showing no packages.
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
import tempfile

from ..core.errors import InvalidManifest, TooLarge
from .records import MAX_PACKAGES, PackageRecord, UnsupportedDatabase, check_size, field

# Real rpmdb.sqlite files are 5-20 MB in images and ~100 MB on big hosts; it is copied to a temporary
# file to be opened, so the bound is also the disk we are willing to use.
MAX_RPMDB_BYTES = 256 << 20
# rpm's own bounds on one header (lib/header.c: HEADER_TAGS_MAX index entries, HEADER_DATA_MAX data
# bytes); nothing rpm wrote can be larger, so past them the blob is not rpm's.
MAX_HEADER_TAGS = 0xFFFF
MAX_HEADER_DATA = 0x0FFFFFFF
# SQLite virtual-machine steps between progress checks, and checks before giving up: reading 200,000
# headers takes a few million steps; a view or trigger built to spin is stopped at ~2 billion.
_PROGRESS_STEPS = 100_000
_PROGRESS_BUDGET = 20_000

_SQLITE_MAGIC = b"SQLite format 3\x00"
# Berkeley DB meta page (db_page.h): the magic at byte 12, in the byte order of the writer.
_BDB_MAGICS = {0x00061561: "hash", 0x00053162: "btree"}
# ndb (rpm lib/backend/ndb/rpmpkg.c): PKGDB_MAGIC 'R','p','m','P' written little-endian at byte 0.
_NDB_MAGIC = b"RpmP"

# rpm tags (rpm's include/rpm/rpmtag.h) and types (rpmTagType).
TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1014, 1022, 1044
_STRING, _INT32, _I18NSTRING = 6, 4, 9
_STRING_TAGS = {
    TAG_NAME: "NAME",
    TAG_VERSION: "VERSION",
    TAG_RELEASE: "RELEASE",
    TAG_LICENSE: "LICENSE",
    TAG_ARCH: "ARCH",
    TAG_SOURCERPM: "SOURCERPM",
}
_ENTRY = struct.Struct(">iIiI")
# rpm's rpmverify/rpmvercmp alphabet is wide; these bound what we show without judging ordering.
_NAME = re.compile(r"[^\s/]+")
_VERSION = re.compile(r"[^\s\-/]+")
_RELEASE = re.compile(r"[^\s/]+")
_ARCH = re.compile(r"[A-Za-z0-9_.-]+")
_SRPM = re.compile(r"(?P<name>.+)-[^-]+-[^-]+\.(?:no)?src\.rpm")


def detect_format(data: bytes) -> str:
    """``sqlite``, ``bdb`` or ``ndb`` from the first bytes; ``unknown`` otherwise."""
    head = bytes(data[:16])
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head[:4] == _NDB_MAGIC:
        return "ndb"
    if len(head) >= 16:
        for order in ("<I", ">I"):
            if struct.unpack(order, head[12:16])[0] in _BDB_MAGICS:
                return "bdb"
    return "unknown"


def parse_rpmdb(data: bytes, path: str) -> list[PackageRecord]:
    """The packages of an rpm database file (`rpmdb.sqlite`); `path` names it in each record.

    Berkeley DB `Packages` and ndb `Packages.db` raise `UnsupportedDatabase` (format ``rpm-bdb`` /
    ``rpm-ndb``): they are recognised, not read.
    """
    what = f"rpm database {path}"
    check_size(data, MAX_RPMDB_BYTES, what)
    kind = detect_format(data)
    if kind == "bdb":
        raise UnsupportedDatabase(
            f"{what} is rpm's Berkeley DB format (Packages, rpm < 4.16): recognised, not read; "
            "only rpmdb.sqlite is read",
            format="rpm-bdb",
            path=path,
        )
    if kind == "ndb":
        raise UnsupportedDatabase(
            f"{what} is rpm's ndb format (Packages.db): recognised, not read; only rpmdb.sqlite is read",
            format="rpm-ndb",
            path=path,
        )
    if kind != "sqlite":
        raise InvalidManifest(f"{what} is not an rpm database (neither SQLite, Berkeley DB nor ndb)")
    return [parse_header(blob, path, hnum) for hnum, blob in _blobs(bytes(data), what)]


def _blobs(data: bytes, what: str) -> list[tuple[int, bytes]]:
    """(hnum, blob) of every row of Packages, read by SQLite from a private read-only copy."""
    with tempfile.TemporaryDirectory(prefix="rx-rpmdb-") as tmp:
        file = os.path.join(tmp, "rpmdb.sqlite")
        # O_EXCL in a fresh 0700 directory: nobody else can have put a link or file there.
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        conn = None
        try:
            # immutable=1: SQLite takes no locks and never looks for a -wal/-journal next to it.
            conn = sqlite3.connect(f"file:{file}?mode=ro&immutable=1", uri=True)
            budget = [_PROGRESS_BUDGET]

            def progress() -> int:
                budget[0] -= 1
                return 1 if budget[0] < 0 else 0  # non-zero interrupts the statement

            conn.set_progress_handler(progress, _PROGRESS_STEPS)
            conn.execute("PRAGMA trusted_schema=OFF")
            if hasattr(conn, "setlimit"):  # Python >= 3.11
                conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 8 + 16 * MAX_HEADER_TAGS + MAX_HEADER_DATA)
            rows = conn.execute("SELECT type, sql FROM sqlite_master WHERE name = 'Packages'").fetchall()
            # A view or virtual table named Packages would run code of the file's choosing.
            if len(rows) != 1 or rows[0][0] != "table" or not str(rows[0][1]).upper().startswith("CREATE TABLE"):
                raise InvalidManifest(f"{what}: no Packages table (is this rpm's database?)")
            out_rows = conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum LIMIT ?", (MAX_PACKAGES + 1,)).fetchall()
        except sqlite3.Error as exc:
            raise InvalidManifest(f"{what}: SQLite could not read it ({exc.__class__.__name__}: {str(exc)[:120]})")
        finally:
            if conn is not None:
                conn.close()
    if len(out_rows) > MAX_PACKAGES:
        raise TooLarge(f"{what} package count", MAX_PACKAGES, len(out_rows))
    for hnum, blob in out_rows:
        if not isinstance(hnum, int) or not isinstance(blob, bytes):
            raise InvalidManifest(f"{what}: a Packages row is not (integer, blob)")
    return out_rows


def parse_header(blob: bytes, path: str, hnum: int = 0) -> PackageRecord:
    """One rpm header blob (no lead, no 8-byte header magic, as rpmdb stores it) as a record."""
    what = f"rpm database {path} header {hnum}"
    if len(blob) < 8:
        raise InvalidManifest(f"{what}: shorter than its 8-byte intro")
    il, dl = struct.unpack(">II", blob[:8])
    if il < 1 or il > MAX_HEADER_TAGS:
        raise InvalidManifest(f"{what}: {il} index entries (rpm allows 1..{MAX_HEADER_TAGS})")
    if dl > MAX_HEADER_DATA:
        raise InvalidManifest(f"{what}: {dl} data bytes (rpm allows at most {MAX_HEADER_DATA})")
    start = 8 + 16 * il
    if len(blob) != start + dl:
        raise InvalidManifest(f"{what}: {len(blob)} bytes where its intro says {start + dl}")
    store = blob[start:]
    values: dict[int, object] = {}
    for i in range(il):
        tag, typ, offset, count = _ENTRY.unpack_from(blob, 8 + 16 * i)
        if tag in _STRING_TAGS or tag == TAG_EPOCH:
            if tag in values:
                raise InvalidManifest(f"{what}: tag {tag} appears twice")
            values[tag] = _value(store, tag, typ, offset, count, what)
    name = field(values.get(TAG_NAME), f"{what}: NAME", pattern=_NAME)
    version = field(values.get(TAG_VERSION), f"{what}: VERSION of {name}", pattern=_VERSION)
    release = field(values.get(TAG_RELEASE), f"{what}: RELEASE of {name}", pattern=_RELEASE)
    arch = field(values.get(TAG_ARCH), f"{what}: ARCH of {name}", required=False, pattern=_ARCH)
    license_ = field(values.get(TAG_LICENSE), f"{what}: LICENSE of {name}", required=False)
    srpm = field(values.get(TAG_SOURCERPM), f"{what}: SOURCERPM of {name}", required=False)
    source = None
    # rpm --import writes the literal "(none)" as a gpg-pubkey's SOURCERPM (and rpm -q prints it for
    # any missing tag): it names no source package.
    if srpm is not None and srpm != "(none)":
        match = _SRPM.fullmatch(srpm)
        source = match.group("name") if match else srpm
    evr = f"{version}-{release}"
    if TAG_EPOCH in values:
        evr = f"{values[TAG_EPOCH]}:{evr}"
    assert name is not None
    return PackageRecord("rpm", name, evr, arch, source, license_, path)


def _value(store: bytes, tag: int, typ: int, offset: int, count: int, what: str) -> object:
    """The checked value of one index entry we read: a string, or the epoch (one int32)."""
    if offset < 0 or offset >= len(store):
        raise InvalidManifest(f"{what}: tag {tag} points outside the data store")
    if tag == TAG_EPOCH:
        if typ != _INT32 or count != 1 or offset % 4 or offset + 4 > len(store):
            raise InvalidManifest(f"{what}: EPOCH is not one aligned INT32")
        epoch = struct.unpack_from(">I", store, offset)[0]
        if epoch > 0x7FFFFFFF:
            raise InvalidManifest(f"{what}: EPOCH {epoch} is negative as rpm reads it")
        return epoch
    # rpm writes these as STRING; an I18NSTRING (count = number of locales) keeps its first entry.
    if typ not in (_STRING, _I18NSTRING) or count < 1 or (typ == _STRING and count != 1):
        raise InvalidManifest(f"{what}: {_STRING_TAGS[tag]} is not a string (type {typ}, count {count})")
    end = store.find(b"\x00", offset)
    if end < 0:
        raise InvalidManifest(f"{what}: {_STRING_TAGS[tag]} is not NUL-terminated")
    raw = store[offset:end]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidManifest(f"{what}: {_STRING_TAGS[tag]} is not UTF-8")
