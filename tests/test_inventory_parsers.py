"""The inventory parsers against databases the real package managers wrote, row for row with their own listings.

Fixtures: tests/helpers/packagedbs.py (mmdebstrap + dpkg, rpmbuild + rpm, pip/setuptools, npm; apk and
Java written from their documentation). Hostile inputs by hand are here; random ones in
test_inventory_properties.py.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest
from helpers import packagedbs, packagedbs_debian, packagedbs_lang
from helpers.ci import in_ci

from registry_explorer.core.errors import InvalidManifest, TooLarge
from registry_explorer.inventory import (
    PackageRecord,
    UnsupportedDatabase,
    distinct_per_site,
    dpkg,
    parse_apk_installed,
    parse_dpkg_status,
    parse_java_archive,
    parse_npm_package_json,
    parse_python_metadata,
    parse_rpmdb,
    parser_for,
    rpmdb,
)
from registry_explorer.inventory.python_dists import canonical_name

pytest_plugins = ["helpers.inventory_fixtures"]

def parse_tree(tree, *, per_site: bool = True) -> list[PackageRecord]:
    """Every record of every database of a fixture tree, each read by the parser parser_for picks;
    Python's kept once per name and site directory (distinct_per_site), as pip lists them."""
    records: list[PackageRecord] = []
    for path in tree.databases:
        found = parser_for(path)
        assert found is not None, f"parser_for does not recognise {path}"
        records.extend(found[1](tree.files[path], path))
    if per_site:
        python = [r for r in records if r.ecosystem == "python"]
        records = [r for r in records if r.ecosystem != "python"] + distinct_per_site(python)
    return records


def rows(records) -> list[tuple]:
    """(ecosystem, name, version, architecture) of each record, sorted, duplicates kept."""
    return sorted((r.ecosystem, r.name, r.version, r.architecture) for r in records)


def truth_rows(tree) -> list[tuple]:
    return sorted(tuple(row) for row in tree.truth)


TREES = ["dpkg_minbase", "dpkg_removed", "dpkg_status_d", "dpkg_states", "rpm_sqlite", "python_site", "npm_tree",
         "java_jars", "apk_installed"]


@pytest.mark.parametrize("name", TREES)
def test_rows_equal_the_package_managers_listing(name, request):
    """name, version and architecture of every installed package, row for row, duplicates counted."""
    tree = request.getfixturevalue(name)
    assert tree.truth, f"{name}: the package manager listed nothing (a fixture that proves nothing)"
    assert rows(parse_tree(tree)) == truth_rows(tree)


@pytest.mark.parametrize("name", ["dpkg_minbase", "dpkg_status_d", "rpm_sqlite", "apk_installed"])
def test_source_package_and_licence_as_the_tool_says(name, request):
    tree = request.getfixturevalue(name)
    by_row = {(r.ecosystem, r.name, r.version, r.architecture): r for r in parse_tree(tree)}
    for row, source in tree.sources.items():
        if source and source.endswith(".src.rpm"):  # rpm prints the source rpm file; we keep its name
            source = source[: -len(".src.rpm")].rsplit("-", 2)[0]
        assert by_row[tuple(row)].source_package == source, row
    for row, license_ in tree.licenses.items():
        assert by_row[tuple(row)].license == license_, row
    assert tree.sources or tree.licenses


def test_python_one_distribution_with_two_metadata_files(python_site):
    """setup.py install over a wheel install leaves a dist-info and an egg-info; pip lists the name once."""
    every = [r for r in parse_tree(python_site, per_site=False) if r.name == "rx-beta"]
    assert sorted(r.database.rsplit("/", 2)[-2].rsplit(".", 1)[-1] for r in every) == ["dist-info", "egg-info"]
    kept = [r for r in parse_tree(python_site) if r.name == "rx-beta"]
    assert len(kept) == 1 and kept[0].database.endswith(".dist-info/METADATA")
    assert [row.name for row in python_site.truth].count("rx-beta") == 1


def test_dpkg_removed_with_config_kept_is_not_installed(dpkg_removed):
    status = dpkg_removed.files["var/lib/dpkg/status"].decode()
    stanza = re.search(r"^Package: e2fsprogs\n(?:.+\n)*", status, re.M).group(0)
    assert "Status: deinstall ok config-files" in stanza  # dpkg really left it as rc
    names = {r.name for r in parse_dpkg_status(dpkg_removed.files["var/lib/dpkg/status"], "var/lib/dpkg/status")}
    assert "e2fsprogs" not in names
    # Still installed: selected for removal but refused (ri), and on hold (hi).
    assert {"adduser", "perl"} <= names
    assert re.search(r"^Package: adduser\nStatus: deinstall ok installed$", status, re.M)
    assert re.search(r"^Package: perl\nStatus: hold ok installed$", status, re.M)


def test_dpkg_states_follow_dpkg(dpkg_states):
    names = {r.name for r in parse_tree(dpkg_states)}
    for package, status in packagedbs_debian.STATES.items():
        assert (package in names) == (status.split()[2] in dpkg.INSTALLED_STATES), (package, status)


def test_dpkg_status_d_md5sums_are_not_stanzas(dpkg_status_d):
    md5 = [p for p in dpkg_status_d.files if p.endswith(".md5sums")]
    assert md5, "the distroless fixture has md5sums files"
    assert parser_for(md5[0]) is None
    assert parse_dpkg_status(dpkg_status_d.files[md5[0]], md5[0]) == []
    stanza = dpkg_status_d.files[dpkg_status_d.databases[0]]
    assert b"\nStatus:" not in stanza  # dpkg-deb --field output: installed without a Status field
    # The same stanza in a status file (not status.d) is not installed: dpkg reads no Status as not-installed.
    assert parse_dpkg_status(stanza, "var/lib/dpkg/status") == []


def test_rpm_two_versions_of_one_name_and_a_pubkey(rpm_sqlite):
    records = parse_tree(rpm_sqlite)
    assert sorted(r.version for r in records if r.name == "rx-kmod") == ["1.0-1", "1.1-2"]
    key = [r for r in records if r.name == "gpg-pubkey"]
    assert len(key) == 1 and key[0].architecture is None and key[0].source_package is None
    assert [r.version for r in records if r.name == "rx-alpha"] == ["2:1.2.3-4"]


def test_rpm_older_formats_are_named_not_read():
    for path, data in packagedbs.rpm_legacy_headers().items():
        assert parser_for(path)[0] == "rpm"
        with pytest.raises(UnsupportedDatabase) as info:
            parse_rpmdb(data, path)
        assert info.value.format == ("rpm-ndb" if path.endswith(".db") else "rpm-bdb")
        assert "not read" in str(info.value) and isinstance(info.value, InvalidManifest)


def test_fixture_tree_as_a_layer_tar(rpm_sqlite, tmp_path):
    """The tar form holds the same bytes (what the lead pushes as a layer), and repeats byte for byte."""
    blob = rpm_sqlite.tar_bytes()
    assert blob == rpm_sqlite.tar_bytes()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        data = tar.extractfile("var/lib/rpm/rpmdb.sqlite").read()
    assert rows(parse_rpmdb(data, "var/lib/rpm/rpmdb.sqlite")) == truth_rows(rpm_sqlite)
    written = rpm_sqlite.write(tmp_path)
    assert (written / "var/lib/rpm/rpmdb.sqlite").read_bytes() == data


@pytest.mark.parametrize(
    ("path", "ecosystem"),
    [
        ("var/lib/dpkg/status", "deb"),
        ("/var/lib/dpkg/status.d/libc6", "deb"),
        ("var/lib/dpkg/status.d/libc6.md5sums", None),
        ("var/lib/dpkg/status-old", None),
        ("usr/lib/sysimage/rpm/rpmdb.sqlite", "rpm"),
        ("var/lib/rpm/rpmdb.sqlite-wal", None),
        ("lib/apk/db/installed", "apk"),
        ("usr/lib/python3/dist-packages/six-1.16.0.egg-info", "python"),
        ("usr/lib/python3.11/site-packages/pip-24.0.dist-info/RECORD", None),
        ("srv/x/node_modules/@s/n/package.json", "npm"),
        ("srv/x/node_modules/.package-lock.json", None),
        ("srv/x/node_modules/n/lib/package.json", None),
        ("./opt/app.war", "java"),
    ],
)
def test_parser_for_paths(path, ecosystem):
    found = parser_for(path)
    assert (found[0] if found else None) == ecosystem


# Hostile input by hand: each case raises only our errors, and says what was wrong.
_DPKG_OK = b"Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_DPKG_OK + b"Version: 2\n", "appears twice"),
        (b"Package: a\nStatus: install ok sideways\nVersion: 1\n", "want eflag state"),
        (b"Package: a\nStatus: install ok installed\n", "Version"),
        (b"Package: a\x1b[2J\nStatus: install ok installed\nVersion: 1\n", "control characters"),
        (b"Package: a b\nStatus: install ok installed\nVersion: 1\n", "not well-formed"),
        (b" continuation first\n", "continuation"),
        (b"no colon here\n", "Field: value"),
        (b"Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (1\n", "Source"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_dpkg_hostile(data, message):
    with pytest.raises(InvalidManifest, match=message):
        parse_dpkg_status(data, "var/lib/dpkg/status")


def test_limits_raise_too_large(monkeypatch):
    monkeypatch.setattr(dpkg, "MAX_TEXT_DATABASE_BYTES", len(_DPKG_OK) - 1)
    with pytest.raises(TooLarge):
        parse_dpkg_status(_DPKG_OK, "var/lib/dpkg/status")
    monkeypatch.setattr("registry_explorer.inventory.records.MAX_PACKAGES", 2)
    with pytest.raises(TooLarge):
        parse_apk_installed(b"P:a\nV:1\n\nP:b\nV:1\n\nP:c\nV:1\n", "lib/apk/db/installed")
    with pytest.raises(TooLarge):
        parse_npm_package_json(b'{"name": "a", "version": "%s"}' % (b"1" * (70 << 10)), "node_modules/a/package.json")


def _sqlite(tmp_path, *statements) -> bytes:
    file = tmp_path / "rpmdb.sqlite"
    conn = sqlite3.connect(file)
    for statement in statements:
        conn.execute(*statement) if isinstance(statement, tuple) else conn.execute(statement)
    conn.commit()
    conn.close()
    return file.read_bytes()


def test_rpmdb_hostile_sqlite(tmp_path):
    # A view named Packages that never ends: refused by the schema check before it runs.
    spin = _sqlite(tmp_path, "CREATE VIEW Packages AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                             "SELECT x AS hnum, zeroblob(16) AS blob FROM c")
    with pytest.raises(InvalidManifest, match="no Packages table"):
        parse_rpmdb(spin, "var/lib/rpm/rpmdb.sqlite")
    (tmp_path / "rpmdb.sqlite").unlink()
    text_blob = _sqlite(tmp_path, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)",
                        "INSERT INTO Packages VALUES (1, 'text, not a blob')")
    with pytest.raises(InvalidManifest, match="not \\(integer, blob\\)"):
        parse_rpmdb(text_blob, "var/lib/rpm/rpmdb.sqlite")
    with pytest.raises(InvalidManifest, match="SQLite could not read it"):
        parse_rpmdb(text_blob[:1024] + b"\x00" * 3072, "var/lib/rpm/rpmdb.sqlite")
    with pytest.raises(InvalidManifest, match="not an rpm database"):
        parse_rpmdb(b"\x00" * 64, "var/lib/rpm/rpmdb.sqlite")


def _header(entries, store: bytes) -> bytes:
    index = b"".join(struct.pack(">iIiI", *e) for e in entries)
    return struct.pack(">II", len(entries), len(store)) + index + store


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x00\x00", "shorter"),
        (struct.pack(">II", 0x10000, 0), "index entries"),
        (struct.pack(">II", 1, 0x10000000), "data bytes"),
        (_header([(1000, 6, 0, 1)], b"abc\x00") + b"x", "where its intro says"),
        (_header([(1000, 6, 40, 1)], b"abc\x00"), "outside the data store"),
        (_header([(1000, 6, 0, 1)], b"abc"), "NUL-terminated"),
        (_header([(1000, 4, 0, 1)], b"abc\x00"), "not a string"),
        (_header([(1000, 6, 0, 1), (1001, 6, 0, 1), (1002, 6, 0, 1), (1003, 4, 1, 1)], b"abcd\x00\x00\x00\x00"), "EPOCH"),
        (_header([(1000, 6, 0, 1), (1000, 6, 0, 1)], b"abc\x00"), "twice"),
        (_header([(1001, 6, 0, 1)], b"1.0\x00"), "NAME is missing"),
    ],
)
def test_rpm_header_hostile(blob, message):
    with pytest.raises(InvalidManifest, match=message):
        rpmdb.parse_header(blob, "var/lib/rpm/rpmdb.sqlite")


def test_python_npm_java_apk_hostile():
    with pytest.raises(InvalidManifest, match="appears 2 times"):
        parse_python_metadata(b"Name: a\nName: b\nVersion: 1\n", "x.dist-info/METADATA")
    with pytest.raises(InvalidManifest, match="Version"):
        parse_python_metadata(b"Metadata-Version: 2.1\nName: a\n", "x.dist-info/METADATA")
    with pytest.raises(InvalidManifest, match="not JSON"):
        parse_npm_package_json(b"[" * 100_000, "node_modules/a/package.json")
    with pytest.raises(InvalidManifest, match="name"):
        parse_npm_package_json(b'{"name": ["a"], "version": "1"}', "node_modules/a/package.json")
    assert parse_npm_package_json(b'{"private": true}', "node_modules/a/package.json") == []
    with pytest.raises(InvalidManifest, match="end-of-central-directory"):
        parse_java_archive(b"PK\x03\x04 not really", "app.jar")
    with pytest.raises(InvalidManifest, match="P \\(name\\) is missing"):
        parse_apk_installed(b"V:1.0-r0\nA:x86_64\n", "lib/apk/db/installed")
    with pytest.raises(InvalidManifest, match="second package"):
        parse_apk_installed(b"P:a\nV:1\nP:b\nV:2\n", "lib/apk/db/installed")
    with pytest.raises(InvalidManifest, match="X:value"):
        parse_apk_installed(b"P:a\nV:1\nnot a field\n", "lib/apk/db/installed")


def test_java_central_directory_bound_and_bomb(java_jars):
    jar = bytearray(java_jars.files["app/app.jar"])
    end = jar.rfind(b"PK\x05\x06")
    struct.pack_into("<I", jar, end + 12, 0xFFFFFFF0)  # a directory that claims ~4 GiB
    with pytest.raises(TooLarge):
        parse_java_archive(bytes(jar), "app/app.jar")
    bomb = packagedbs_lang._jar({"META-INF/maven/g/a/pom.properties": b"#" * (1 << 20)})
    with pytest.raises(TooLarge):
        parse_java_archive(bomb, "bomb.jar")


def test_the_machines_own_dpkg_database():
    """This machine's dpkg status (hundreds of packages, every field dpkg writes), row for row with dpkg-query."""
    status = Path("/var/lib/dpkg/status")
    if not status.exists() or shutil.which("dpkg-query") is None:
        if in_ci():
            pytest.fail("CI machines are Debian: /var/lib/dpkg/status and dpkg-query are required")
        pytest.skip("not a dpkg machine")
    fmt = "${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n"
    out = subprocess.run(["dpkg-query", "-W", f"-f={fmt}"], capture_output=True, text=True, check=True).stdout
    want = sorted(("deb", *line.split("\t")[:3]) for line in out.splitlines() if line.split("\t")[3][1] in "iWt")
    assert rows(parse_dpkg_status(status.read_bytes(), "var/lib/dpkg/status")) == want


def _site_dirs() -> list[str]:
    dirs = [sysconfig.get_paths()["purelib"], "/usr/lib/python3/dist-packages"]  # the venv's, and Debian's
    return [d for d in dirs if Path(d).is_dir()]


@pytest.mark.parametrize("site", _site_dirs())
def test_the_machines_own_site_directories(site):
    """Real site directories (the venv's; Debian's, where python3-cryptography ships a dist-info and an
    egg-info) against `pip list --path`, after distinct_per_site."""
    records = []
    for entry in sorted(Path(site).iterdir()):
        for candidate in (entry, entry / "METADATA", entry / "PKG-INFO"):
            rel = candidate.as_posix().lstrip("/")
            if candidate.is_file() and parser_for(rel):
                records.extend(parser_for(rel)[1](candidate.read_bytes(), rel))
    listing = json.loads(subprocess.run([sys.executable, "-m", "pip", "list", "--path", site, "--format", "json"],
                                        capture_output=True, text=True, check=True).stdout)
    want = sorted((canonical_name(d["name"]), d["version"]) for d in listing)
    assert want, f"pip lists nothing in {site}"
    assert sorted((canonical_name(r.name), r.version) for r in distinct_per_site(records)) == want
