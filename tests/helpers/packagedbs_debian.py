"""dpkg fixtures written by dpkg itself: a Debian minbase root made by mmdebstrap, changed with dpkg.

`mmdebstrap --variant=minbase` of the host's own suite, from the host's own apt sources (so no mirror is
named here), takes ~20 s and ~180 MB; only what a package database needs is kept in the cache:
``var/lib/dpkg/status`` and ``info/*.list`` / ``info/*.md5sums`` of four states of the root, and the
control fields of every downloaded .deb for the distroless layout. The rest of the root (the files the
packages install) is not kept: the parsers read the database, not the files.

- `dpkg_minbase()`: the fresh root's database (every package ``ii``).
- `dpkg_removed()`: the same root after ``dpkg --root -r e2fsprogs`` (``rc``: removed, configuration
  kept), a refused ``dpkg -r adduser`` (``ri``: still installed, selected for removal) and
  ``dpkg --set-selections`` putting perl on hold (``hi``).
- `dpkg_status_d()`: distroless's layout, ``status.d/<name>`` = ``dpkg-deb --field`` of the real .deb
  (no Status field) and ``status.d/<name>.md5sums`` from its control archive; the truth is
  ``dpkg-deb --show`` of the same .deb files.
- `dpkg_states()`: the removed root's status with Status rewritten by hand to every other state
  dpkg knows (half-installed, unpacked, half-configured, triggers-awaited, triggers-pending,
  not-installed); the truth is dpkg-query reading that file.

Truth: ``dpkg-query -W -f='${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Abbrev}\\t${source:Package}\\n'
--admindir DIR``; installed rows are those whose state letter (the second of db:Status-Abbrev) is i, W or
t, as dpkg.py explains.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .packagedbs_common import FixtureTree, ToolMissing, TruthRow, cached, need, read_tree, run

ADMIN = "var/lib/dpkg"
# The packages dpkg acts on in dpkg_removed(): present in every minbase since Debian 10.
REMOVED, REFUSED, HELD = "e2fsprogs", "adduser", "perl"
INSTALLED_LETTERS = frozenset("iWt")
# Fields dpkg requires next to the two trigger states (deb-triggers(5); it refuses the file otherwise).
TRIGGER_FIELDS = {"gzip": "Triggers-Awaited: hostname", "hostname": "Triggers-Pending: rx-test-trigger"}
# dpkg_states(): package -> the Status it is given (each is a real state word of dpkg-query(1)).
STATES = {
    "bsdutils": "install reinstreq half-installed",
    "diffutils": "install ok unpacked",
    "findutils": "install ok half-configured",
    "gzip": "install ok triggers-awaited",  # awaits hostname's trigger (dpkg checks the pair)
    "hostname": "install ok triggers-pending",
    "sed": "purge ok not-installed",
}


def _host_suite() -> tuple[str, list[str]]:
    """(codename, mirror arguments) of the host: its own apt sources file, so no host is named here."""
    text = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    match = re.search(r"^VERSION_CODENAME=(\S+)", text, re.M)
    if not match:
        raise ToolMissing("no VERSION_CODENAME in /etc/os-release: not a Debian host")
    for source in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if Path(source).exists() and Path(source).stat().st_size > 0:
            return match.group(1), [source]
    return match.group(1), []


def _minbase_cache() -> Path:
    need("mmdebstrap", "dpkg", "dpkg-deb", "dpkg-query")
    if os.geteuid() != 0:
        raise ToolMissing("mmdebstrap --mode=root and dpkg --root need root")
    suite, mirrors = _host_suite()
    arch = run(["dpkg", "--print-architecture"]).strip()
    params = {"suite": suite, "arch": arch, "variant": "minbase", "v": 1, "mirrors": mirrors}
    return cached("dpkg-minbase", params, lambda out: _build(out, suite, mirrors))


def _build(out: Path, suite: str, mirrors: list[str]) -> None:
    root = out / "root"
    debs = out / "debs"
    debs.mkdir()
    # The hook runs before mmdebstrap empties apt's cache: it keeps the .deb files it installed.
    hook = f'cp "$1"/var/cache/apt/archives/*.deb {debs}/'
    run(
        ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=directory", "--quiet",
         f"--customize-hook={hook}", suite, str(root), *mirrors],
        env={"SOURCE_DATE_EPOCH": "1700000000"},
        timeout=1200,
    )
    _keep_database(root, out / "minbase")
    # Each change as dpkg itself makes it, with the root's maintainer scripts (needs root: chroot).
    run(["dpkg", f"--root={root}", "-r", REMOVED])
    refused = subprocess.run(["dpkg", f"--root={root}", "-r", REFUSED], capture_output=True, text=True)
    if refused.returncode == 0:
        raise RuntimeError(f"dpkg -r {REFUSED} was expected to be refused (a required package depends on it)")
    subprocess.run(["dpkg", f"--root={root}", "--set-selections"], input=f"{HELD} hold\n", text=True, check=True, capture_output=True)
    _keep_database(root, out / "removed")
    _status_d(debs, out / "status.d")
    shutil.rmtree(root)
    shutil.rmtree(debs)


def _keep_database(root: Path, dest: Path) -> None:
    src = root / ADMIN
    (dest / ADMIN / "info").mkdir(parents=True)
    shutil.copy2(src / "status", dest / ADMIN / "status")
    for path in (src / "info").iterdir():
        if path.suffix in (".list", ".md5sums"):
            shutil.copy2(path, dest / ADMIN / "info" / path.name)


def _status_d(debs: Path, dest: Path) -> None:
    """Distroless's layout from the real .debs, and dpkg-deb's own reading of them as the truth."""
    (dest / ADMIN / "status.d").mkdir(parents=True)
    truth = []
    for deb in sorted(debs.glob("*.deb")):
        show = run(["dpkg-deb", "--show", "--showformat=${Package}\t${Version}\t${Architecture}\t${source:Package}\n", str(deb)])
        name = show.split("\t")[0]
        (dest / ADMIN / "status.d" / name).write_text(run(["dpkg-deb", "--field", str(deb)]))
        md5 = subprocess.run(["dpkg-deb", "--info", str(deb), "md5sums"], capture_output=True)
        if md5.returncode == 0:
            (dest / ADMIN / "status.d" / f"{name}.md5sums").write_bytes(md5.stdout)
        truth.append(show)
    (dest / "truth.tsv").write_text("".join(truth))


def _query(admindir: Path) -> list[list[str]]:
    fmt = "${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\t${source:Package}\n"
    out = run(["dpkg-query", "-W", f"-f={fmt}", f"--admindir={admindir}"])
    return [line.split("\t") for line in out.splitlines() if line]


def _from_admindir(top: Path, *, all_states: bool = False) -> FixtureTree:
    files = read_tree(top, ADMIN)
    tree = FixtureTree(files, [], [f"{ADMIN}/status"])
    for name, version, arch, abbrev, source in _query(top / ADMIN):
        if len(abbrev) >= 2 and abbrev[1] in INSTALLED_LETTERS:
            row = TruthRow("deb", name, version, arch or None)
            tree.truth.append(row)
            tree.sources[row] = source
            tree.licenses[row] = None
    tree.notes = "var/lib/dpkg of a Debian minbase root made by mmdebstrap; truth from dpkg-query"
    return tree


def dpkg_minbase() -> FixtureTree:
    """The database of a fresh `mmdebstrap --variant=minbase` root: every package installed."""
    return _from_admindir(_minbase_cache() / "minbase")


def dpkg_removed() -> FixtureTree:
    """The root after dpkg removed e2fsprogs keeping its configuration (rc), refused to remove
    adduser (ri) and put perl on hold (hi): e2fsprogs is not installed, the other two are."""
    return _from_admindir(_minbase_cache() / "removed")


def dpkg_status_d() -> FixtureTree:
    """Distroless's `var/lib/dpkg/status.d/<name>` (+ `<name>.md5sums`) from the real .deb files."""
    top = _minbase_cache() / "status.d"
    files = read_tree(top, ADMIN)
    tree = FixtureTree(files, [], sorted(p for p in files if not p.endswith(".md5sums")))
    for line in (top / "truth.tsv").read_text().splitlines():
        name, version, arch, source = line.split("\t")
        row = TruthRow("deb", name, version, arch or None)
        tree.truth.append(row)
        tree.sources[row] = source
    tree.notes = "status.d/<name> = dpkg-deb --field of each .deb mmdebstrap installed; truth from dpkg-deb --show"
    return tree


def dpkg_states(workdir: str | os.PathLike) -> FixtureTree:
    """The removed root's status with other Status values written in; dpkg-query reads it (in `workdir`)."""
    base = _minbase_cache() / "removed" / ADMIN
    admindir = Path(workdir) / ADMIN
    (admindir / "info").mkdir(parents=True, exist_ok=True)
    (admindir / "updates").mkdir(exist_ok=True)
    stanzas = base.joinpath("status").read_text().split("\n\n")
    for i, stanza in enumerate(stanzas):
        name = re.search(r"^Package: (\S+)", stanza, re.M)
        if name and name.group(1) in STATES:
            stanza = re.sub(r"^Status: .*$", f"Status: {STATES[name.group(1)]}", stanza, count=1, flags=re.M)
            if name.group(1) in TRIGGER_FIELDS:
                stanza = stanza.rstrip("\n") + "\n" + TRIGGER_FIELDS[name.group(1)]
            stanzas[i] = stanza
    (admindir / "status").write_text("\n\n".join(stanzas))
    tree = _from_admindir(Path(workdir))
    tree.notes = "Status rewritten by hand to each dpkg state; truth from dpkg-query reading that file"
    return tree
