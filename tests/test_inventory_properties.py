"""Properties of the inventory parsers on hostile bytes: random ones, and real databases mutated.

Whatever the bytes, a parser returns a list of PackageRecord or raises InvalidManifest or TooLarge
(nothing else: no IndexError, UnicodeError, struct.error, sqlite3.Error, zipfile.BadZipFile,
RecursionError), and returns within a bounded time.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_explorer.core.errors import InvalidManifest, TooLarge
from registry_explorer.inventory import (
    PackageRecord,
    parse_apk_installed,
    parse_dpkg_status,
    parse_java_archive,
    parse_npm_package_json,
    parse_python_metadata,
    parse_rpmdb,
    rpmdb,
)

pytest_plugins = ["helpers.inventory_fixtures"]

EXAMPLES = int(os.environ.get("RX_HYPOTHESIS_EXAMPLES", "400"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# rpm examples each write a ~230 KB database to a temporary file and open it with SQLite.
SQLITE_SETTINGS = settings(SETTINGS, max_examples=max(50, EXAMPLES // 4))
# Far above what any example takes (milliseconds): a parser that loops on crafted input fails here.
SECONDS_PER_CALL = 10.0

PARSERS = {
    "dpkg": (parse_dpkg_status, "var/lib/dpkg/status"),
    "dpkg-status.d": (parse_dpkg_status, "var/lib/dpkg/status.d/libc6"),
    "rpm": (parse_rpmdb, "var/lib/rpm/rpmdb.sqlite"),
    "apk": (parse_apk_installed, "lib/apk/db/installed"),
    "python": (parse_python_metadata, "usr/lib/python3/site-packages/a-1.dist-info/METADATA"),
    "npm": (parse_npm_package_json, "app/node_modules/a/package.json"),
    "java": (parse_java_archive, "app/app.jar"),
}
# Prefixes that get random bytes past each format's first check.
PREFIXES = [b"", b"SQLite format 3\x00", b"Package: a\nStatus: install ok installed\nVersion: ", b"P:a\nV:",
            b"Metadata-Version: 2.1\nName: a\nVersion: ", b'{"name": "a", "version": ', b"PK\x03\x04", b"RpmP"]


def _call(parser, data: bytes, path: str):
    """The parser's answer; only our two errors may escape, and only in bounded time."""
    start = time.monotonic()
    try:
        result = parser(data, path)
    except (InvalidManifest, TooLarge):
        result = None
    assert time.monotonic() - start < SECONDS_PER_CALL
    if result is not None:
        assert isinstance(result, list) and all(isinstance(r, PackageRecord) for r in result)
        for record in result:
            assert record.name and record.version
            assert record.database == path or record.database.startswith(path + "!/")  # a jar names its member
    return result


@SETTINGS
@given(kind=st.sampled_from(sorted(PARSERS)), prefix=st.sampled_from(PREFIXES), tail=st.binary(max_size=2048))
def test_random_bytes(kind, prefix, tail):
    parser, path = PARSERS[kind]
    _call(parser, prefix + tail, path)


@SETTINGS
@given(kind=st.sampled_from(["dpkg", "apk", "python"]), text=st.text(max_size=1024))
def test_random_text(kind, text):
    parser, path = PARSERS[kind]
    _call(parser, text.encode("utf-8", "replace"), path)


_OPS = st.lists(
    st.tuples(st.sampled_from(["set", "delete", "insert", "truncate", "duplicate"]),
              st.integers(min_value=0, max_value=2**31), st.binary(min_size=1, max_size=16)),
    min_size=1, max_size=6)


def mutate(data: bytes, ops) -> bytes:
    """Apply byte-level edits at positions taken modulo the current length."""
    buf = bytearray(data)
    for op, where, chunk in ops:
        at = where % (len(buf) + 1)
        if op == "set":
            buf[at : at + len(chunk)] = chunk
        elif op == "delete":
            del buf[at : at + len(chunk) * 64]
        elif op == "insert":
            buf[at:at] = chunk
        elif op == "truncate":
            del buf[at:]
        elif op == "duplicate":
            buf[at:at] = buf[at : at + 4096]
    return bytes(buf)


def _line_mutate(data: bytes, draws) -> bytes:
    """Text-level edits that keep UTF-8: replace, drop or repeat whole lines."""
    lines = data.decode("utf-8").split("\n")
    for op, where, text in draws:
        at = where % len(lines)
        if op == "replace":
            lines[at] = text
        elif op == "drop":
            del lines[at]
            lines = lines or [""]
        else:
            lines.insert(at, lines[at])
    return "\n".join(lines).encode("utf-8", "surrogatepass")


_LINE_OPS = st.lists(st.tuples(st.sampled_from(["replace", "drop", "repeat"]), st.integers(0, 2**31),
                               st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)),
                     min_size=1, max_size=6)


def _real(tree, kind: str) -> tuple[bytes, str]:
    path = next(p for p in tree.databases if kind in p) if kind else tree.databases[0]
    return tree.files[path], path


@pytest.mark.parametrize(
    ("fixture", "kind", "parser"),
    [("dpkg_minbase", "status", parse_dpkg_status), ("apk_installed", "", parse_apk_installed),
     ("python_site", "METADATA", parse_python_metadata), ("python_site", "PKG-INFO", parse_python_metadata),
     ("npm_tree", "rx-beta/package.json", parse_npm_package_json), ("java_jars", "app.jar", parse_java_archive)],
)
@SETTINGS
@given(ops=_OPS, line_ops=_LINE_OPS, textual=st.booleans())
def test_mutated_real_databases(request, fixture, kind, parser, ops, line_ops, textual):
    data, path = _real(request.getfixturevalue(fixture), kind)
    if textual and parser is not parse_java_archive:
        data = _line_mutate(data, line_ops)
    else:
        data = mutate(data, ops)
    _call(parser, data, path)


@SQLITE_SETTINGS
@given(ops=_OPS)
def test_mutated_rpmdb_sqlite(rpm_sqlite, ops):
    """Half the edits land in the first 8 KiB: SQLite's header and schema page, where damage matters most."""
    data, path = _real(rpm_sqlite, "rpmdb.sqlite")
    aimed = [(op, where % 8192 if i % 2 == 0 else where, chunk) for i, (op, where, chunk) in enumerate(ops)]
    _call(parse_rpmdb, mutate(data, aimed), path)


@pytest.fixture(scope="module")
def rpm_header_blobs(rpm_sqlite):
    """The real header blobs rpm wrote, read out of the database with SQLite."""
    with tempfile.TemporaryDirectory() as tmp:
        file = os.path.join(tmp, "rpmdb.sqlite")
        with open(file, "wb") as out:
            out.write(rpm_sqlite.files["var/lib/rpm/rpmdb.sqlite"])
        conn = sqlite3.connect(f"file:{file}?mode=ro&immutable=1", uri=True)
        blobs = [row[0] for row in conn.execute("SELECT blob FROM Packages")]
        conn.close()
    assert len(blobs) == len(rpm_sqlite.truth)
    return blobs


@SETTINGS
@given(which=st.integers(min_value=0), ops=_OPS)
def test_mutated_rpm_headers(rpm_header_blobs, which, ops):
    """Header blobs with edits aimed at the intro and the index (the first 512 bytes) as often as at data."""
    blob = rpm_header_blobs[which % len(rpm_header_blobs)]
    aimed = [(op, where % 512 if i % 2 == 0 else where, chunk) for i, (op, where, chunk) in enumerate(ops)]
    _call(lambda d, p: [rpmdb.parse_header(d, p)], mutate(blob, aimed), "var/lib/rpm/rpmdb.sqlite")
