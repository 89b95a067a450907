"""rpm fixtures written by rpm itself: tiny packages built by rpmbuild, installed into a real rpmdb.sqlite.

The specs below make, on purpose, each thing a parser can get wrong: an Epoch (``E:V-R``), a
licence, a subpackage and a renamed subpackage whose source rpm is another name, an arch package next
to noarch ones, two versions of one name installed side by side (as kernels are), and a gpg-pubkey
entry (``rpm --import`` of a key gpg makes: no ARCH, no SOURCERPM, as on every RHEL image). They are
installed with ``rpm --dbpath DIR -i --justdb --nodeps``, which writes the database and no files.
Truth: ``rpm -qa --dbpath DIR --qf '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}...'``.

Debian's rpm 4.18 writes only sqlite: with ``--define '_db_backend ndb'`` or ``bdb`` it falls back to
a dummy database and installs nothing ("invalid %_db_backend"), and its ``bdb_ro`` backend only reads.
So `rpm_legacy_headers()` writes the first bytes of those two formats from their documentation
(Berkeley DB's meta page, rpm's ndb ``PKGDB_MAGIC``) for the "recognised, not read" tests.
"""

from __future__ import annotations

import struct
import subprocess
import textwrap
from pathlib import Path

from .packagedbs_common import FixtureTree, TruthRow, cached, need, read_tree, run

DBPATH = "var/lib/rpm"
QF = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{LICENSE}\\n"

_COMMON = """
%global debug_package %{nil}
%description
A tiny package for registry-explorer's tests.
"""
SPECS = {
    "rx-alpha": """
Name: rx-alpha
Epoch: 2
Version: 1.2.3
Release: 4
Summary: with an epoch
License: MIT AND Apache-2.0
BuildArch: noarch
%COMMON%
%install
mkdir -p %{buildroot}/usr/share/rx-alpha && echo alpha > %{buildroot}/usr/share/rx-alpha/README
%files
/usr/share/rx-alpha/README
""",
    # Source rx-beta builds rx-beta, rx-beta-libs and rx-gamma-tools: two names that are not the source's.
    "rx-beta": """
Name: rx-beta
Version: 0.9.1
Release: 1.el9_2
Summary: a source package with subpackages
License: GPL-2.0-or-later
BuildArch: noarch
%COMMON%
%package libs
Summary: subpackage
%description libs
subpackage
%package -n rx-gamma-tools
Summary: renamed subpackage
License: BSD-3-Clause
%description -n rx-gamma-tools
renamed subpackage
%install
mkdir -p %{buildroot}/usr/share/rx-beta
for f in main libs tools; do echo $f > %{buildroot}/usr/share/rx-beta/$f; done
%files
/usr/share/rx-beta/main
%files libs
/usr/share/rx-beta/libs
%files -n rx-gamma-tools
/usr/share/rx-beta/tools
""",
    # Built for x86_64 (rpmbuild --target), two versions installed side by side like kernels.
    "rx-kmod-1.0": """
Name: rx-kmod
Version: 1.0
Release: 1
Summary: arch package, first version
License: GPL-2.0-only
%COMMON%
%install
mkdir -p %{buildroot}/usr/lib/rx-kmod-1.0 && echo one > %{buildroot}/usr/lib/rx-kmod-1.0/data
%files
/usr/lib/rx-kmod-1.0/data
""",
    "rx-kmod-1.1": """
Name: rx-kmod
Version: 1.1
Release: 2
Summary: arch package, second version
License: GPL-2.0-only
%COMMON%
%install
mkdir -p %{buildroot}/usr/lib/rx-kmod-1.1 && echo two > %{buildroot}/usr/lib/rx-kmod-1.1/data
%files
/usr/lib/rx-kmod-1.1/data
""",
}


def _build(out: Path) -> None:
    top = out / "rpmbuild"
    for name, body in SPECS.items():
        spec = out / f"{name}.spec"
        spec.write_text(textwrap.dedent(body).replace("%COMMON%", _COMMON))
        target = ["--target", "x86_64"] if "BuildArch" not in body else []
        run(["rpmbuild", "-bb", *target, "--define", f"_topdir {top}", "--define", "_buildhost rx-test",
             "--define", "use_source_date_epoch_as_buildtime 1", str(spec)], env={"SOURCE_DATE_EPOCH": "1700000000"})
    rpms = sorted(str(p) for p in top.glob("RPMS/*/*.rpm"))
    dbpath = out / "root" / DBPATH
    dbpath.mkdir(parents=True)
    run(["rpm", "--dbpath", str(dbpath), "-i", "--justdb", "--nodeps", *rpms])
    _import_key(out, dbpath)


def _import_key(out: Path, dbpath: Path) -> None:
    """A gpg-pubkey header, as `rpm --import` writes it, of a key gpg makes here (its agent stopped after)."""
    home = out / "gnupg"
    home.mkdir(mode=0o700)
    try:
        run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
             "rx test <rx@example.invalid>", "rsa2048", "sign", "never"])
        key = run(["gpg", "--homedir", str(home), "--armor", "--export", "rx@example.invalid"])
        (out / "key.asc").write_text(key)
        run(["rpm", "--dbpath", str(dbpath), "--import", str(out / "key.asc")])
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def _cache() -> Path:
    need("rpmbuild", "rpm", "gpg", "gpgconf")
    version = run(["rpm", "--version"]).strip()
    return cached("rpm-sqlite", {"specs": SPECS, "common": _COMMON, "rpm": version, "v": 1}, _build)


def rpm_sqlite() -> FixtureTree:
    """`var/lib/rpm/rpmdb.sqlite` (and the -shm/-wal files rpm leaves) with six packages and a gpg-pubkey."""
    top = _cache() / "root"
    files = read_tree(top, DBPATH, keep=lambda p: not p.endswith(".rpm.lock"))
    tree = FixtureTree(files, [], [f"{DBPATH}/rpmdb.sqlite"])
    out = run(["rpm", "-qa", "--dbpath", str(top / DBPATH), "--qf", QF.replace("\\t", "\t").replace("\\n", "\n")])
    for line in out.splitlines():
        name, evr, arch, srpm, license_ = line.split("\t")
        row = TruthRow("rpm", name, evr, None if arch == "(none)" else arch)
        tree.truth.append(row)
        tree.sources[row] = None if srpm == "(none)" else srpm
        tree.licenses[row] = license_
    tree.notes = "rpmdb.sqlite written by rpm -i --justdb of rpmbuild's packages; truth from rpm -qa"
    return tree


def rpm_legacy_headers() -> dict[str, bytes]:
    """The first page of each older rpm database format, written from its documentation.

    ``var/lib/rpm/Packages``: a Berkeley DB hash meta page (db_page.h: magic 0x061561 at byte 12, page
    type 8 at byte 25, 4096-byte pages), little-endian as x86 writes it. ``usr/lib/sysimage/rpm/Packages.db``:
    rpm's ndb header (lib/backend/ndb/rpmpkg.c: PKGDB_MAGIC "RpmP", version 0, generation, slot pages).
    """
    bdb = bytearray(4096)
    struct.pack_into("<IIIII", bdb, 8, 0, 0x00061561, 9, 4096, 0)
    bdb[25] = 8
    ndb = bytearray(4096)
    struct.pack_into("<4sIII", ndb, 0, b"RpmP", 0, 1, 2)
    return {"var/lib/rpm/Packages": bytes(bdb), "usr/lib/sysimage/rpm/Packages.db": bytes(ndb)}
