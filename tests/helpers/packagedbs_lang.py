"""Fixtures for Python, npm, Java and Alpine's apk.

- Python (`python_site()`): real pip and setuptools write a site-packages directory. Three tiny
  projects are built into wheels by ``pip wheel`` (build isolation fetches setuptools from the package
  index once; the wheels are cached) and installed with ``pip install --target --no-index``, which
  writes ``*.dist-info/METADATA``; setuptools' ``setup.py install --single-version-externally-managed``
  writes an ``*.egg-info/PKG-INFO`` directory (what Debian's python3-* packages ship), and distutils
  a single-file ``name-version-pyX.Y.egg-info``; both offline. One distribution gets both a dist-info
  and an egg-info (as Debian's python3-cryptography ships): pip lists it once. Truth: ``pip list --path DIR --format json``.
- npm (`npm_tree()`): real npm installs three packed tarballs offline, one of them twice in two versions
  (``node_modules/@rx/alpha`` and ``node_modules/rx-beta/node_modules/@rx/alpha``). Truth:
  ``npm ls --all --json``.
- Java (`java_jars()`): jars are zips, written here with `zipfile`, laid out as Maven's archiver and
  Spring Boot lay them out (``META-INF/maven/<g>/<a>/pom.properties``, ``BOOT-INF/lib/*.jar``). Java has
  no package manager to ask, so the truth is what was written.
- apk (`apk_installed()`): Alpine's apk is not packaged for Debian. ``lib/apk/db/installed`` is written
  here from the format's documentation (Alpine wiki, "Apk spec": ``P:`` name, ``V:`` version, ``A:``
  arch, ``L:`` licence, ``o:`` origin, per-file ``F:``/``R:``/``Z:`` lines, records separated by an
  empty line); the truth is what was written, not what apk says.

Go is not here: no Go toolchain is on these machines to build a binary whose build info a test could
read (`go version -m` would be the truth).
"""

from __future__ import annotations

import io
import json
import sys
import textwrap
import zipfile
from pathlib import Path

from .packagedbs_common import FixtureTree, TruthRow, cached, need, read_tree, run

SITE = "usr/local/lib/python3.11/site-packages"
# name -> (version, pyproject [project] licence line); setuptools >= 77 writes License-Expression.
WHEELS = {
    "Rx_Alpha.Pkg": ("1.0.post2", 'license = "MIT"'),
    "rx-beta": ("2.0rc1", 'license = {text = "BSD-3-Clause"}'),
    "rx_gamma": ("0.1.dev3", ""),
}
EGG_INFO = ("rx-egg", "3.1", "BSD-3-Clause")
# Installed again by setup.py over its wheel install: a second metadata file of one distribution, as
# Debian's python3-cryptography ships (cryptography-X.dist-info and cryptography.egg-info); pip lists it once.
TWICE = ("rx-beta", "2.0rc1", "BSD-3-Clause")
DISTUTILS = ("rx_distutils", "0.9", "GPL-2.0-only")


def _python_build(out: Path) -> None:
    site = out / "site"
    for i, (name, (version, license_line)) in enumerate(WHEELS.items()):
        project = out / f"proj{i}"
        (project / "src" / f"rx_mod{i}").mkdir(parents=True)
        (project / "src" / f"rx_mod{i}" / "__init__.py").write_text("")
        (project / "pyproject.toml").write_text(textwrap.dedent(f"""\
            [build-system]
            requires = ["setuptools>=77"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "{name}"
            version = "{version}"
            {license_line}
            """))
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out / "wheels"), str(project)], timeout=600)
    wheels = sorted(str(p) for p in (out / "wheels").glob("*.whl"))
    run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), *wheels])
    for i, (name, version, license_) in enumerate((EGG_INFO, TWICE)):
        egg = out / f"egg{i}"
        egg.mkdir()
        (egg / f"rx_egg{i}.py").write_text("")
        (egg / "setup.py").write_text(
            f"from setuptools import setup\nsetup(name={name!r}, version={version!r}, license={license_!r}, py_modules=['rx_egg{i}'])\n")
        run([sys.executable, "setup.py", "-q", "install", "--single-version-externally-managed", "--record", str(out / "egg.rec"),
             f"--install-lib={site}", f"--install-scripts={site}/bin"], cwd=egg)
    dist = out / "distutils"
    dist.mkdir()
    (dist / "rx_distutils.py").write_text("")
    name, version, license_ = DISTUTILS
    (dist / "setup.py").write_text(f"from distutils.core import setup\nsetup(name={name!r}, version={version!r}, license={license_!r}, py_modules=['rx_distutils'])\n")
    run([sys.executable, "setup.py", "-q", "install", f"--install-lib={site}", f"--install-scripts={site}/bin"], cwd=dist,
        env={"SETUPTOOLS_USE_DISTUTILS": "stdlib"})


def python_cache() -> Path:
    """The built Python fixture's directory: ``site/`` (what python_site() reads) and ``wheels/`` (pip's wheels)."""
    return cached("python-site", {"wheels": WHEELS, "egg": EGG_INFO, "twice": TWICE, "distutils": DISTUTILS,
                                  "py": sys.version_info[:2], "v": 2},
                  _python_build)


def python_site() -> FixtureTree:
    """A site-packages with three wheels installed by pip, two egg-info directories (one of them a second
    metadata file of a wheel-installed distribution) and a distutils egg-info file."""
    top = python_cache()
    site = top / "site"
    files = {f"{SITE}/{p}": data for p, data in read_tree(site, keep=lambda p: "__pycache__" not in p).items()}
    databases = sorted(p for p in files if p.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO", ".egg-info")))
    tree = FixtureTree(files, [], databases)
    listing = json.loads(run([sys.executable, "-m", "pip", "list", "--path", str(site), "--format", "json"]))
    for item in listing:
        tree.truth.append(TruthRow("python", item["name"], item["version"], None))
    tree.notes = "site-packages written by pip install --target and setuptools/distutils install; truth from pip list --path"
    return tree


NPM_PACKAGES = {
    "alpha1": {"name": "@rx/alpha", "version": "1.0.0", "license": "MIT"},
    "alpha2": {"name": "@rx/alpha", "version": "2.0.0", "license": {"type": "Apache-2.0"}},
    "beta": {"name": "rx-beta", "version": "0.3.0-rc.1", "license": "ISC",
             "dependencies": {"@rx/alpha": "file:../tgz/rx-alpha-1.0.0.tgz"}},
}
NPM_APP = {"name": "rx-app", "version": "0.0.0", "private": True,
           "dependencies": {"@rx/alpha": "file:../tgz/rx-alpha-2.0.0.tgz", "rx-beta": "file:../tgz/rx-beta-0.3.0-rc.1.tgz"}}
APP = "usr/src/app"


def _npm_build(out: Path) -> None:
    for key, doc in NPM_PACKAGES.items():
        src = out / "src" / key
        src.mkdir(parents=True)
        (src / "package.json").write_text(json.dumps(doc))
        (src / "index.js").write_text("module.exports = 1;\n")
        (out / "tgz").mkdir(exist_ok=True)
        run(["npm", "pack", "-q", "--pack-destination", str(out / "tgz")], cwd=src, env={"npm_config_cache": str(out / "npm-cache")})
    app = out / "app"
    app.mkdir()
    (app / "package.json").write_text(json.dumps(NPM_APP))
    run(["npm", "install", "--offline", "--no-audit", "--no-fund"], cwd=app, env={"npm_config_cache": str(out / "npm-cache")})
    (out / "truth.json").write_text(run(["npm", "ls", "--all", "--json"], cwd=app, env={"npm_config_cache": str(out / "npm-cache")}))


def npm_tree() -> FixtureTree:
    """An app's node_modules written by npm: @rx/alpha 2.0.0 at the top, 1.0.0 nested under rx-beta."""
    need("npm")
    top = cached("npm-tree", {"packages": NPM_PACKAGES, "app": NPM_APP, "v": 1}, _npm_build)
    files = {f"{APP}/{p}": data for p, data in read_tree(top / "app").items()}
    databases = sorted(p for p in files if p.endswith("/package.json") and "/node_modules/" in p)
    tree = FixtureTree(files, [], databases)

    def walk(deps: dict) -> None:
        for name, info in sorted(deps.items()):
            row = TruthRow("npm", name, info["version"], None)
            tree.truth.append(row)
            walk(info.get("dependencies", {}))

    walk(json.loads((top / "truth.json").read_text()).get("dependencies", {}))
    tree.notes = "node_modules written by npm install (offline, packed tarballs); truth from npm ls --all --json"
    return tree


def _jar(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as jar:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20))
            jar.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _pom(group: str, artifact: str, version: str) -> bytes:
    # What maven-archiver writes (a comment header, then the three keys).
    return f"#Generated by Maven\n#Tue Nov 14 22:13:20 UTC 2023\ngroupId={group}\nartifactId={artifact}\nversion={version}\n".encode()


def java_jars() -> FixtureTree:
    """A Spring Boot style app jar (own pom + two lib jars, one without a pom) and a shaded jar with two poms."""
    manifest = b"Manifest-Version: 1.0\r\nCreated-By: Maven JAR Plugin 3.3.0\r\n\r\n"
    lib = _jar({"META-INF/MANIFEST.MF": manifest,
                "META-INF/maven/com.example.rx/rx-lib/pom.properties": _pom("com.example.rx", "rx-lib", "2.1.0-SNAPSHOT"),
                "com/example/rx/Lib.class": b"\xca\xfe\xba\xbe"})
    plain = _jar({"META-INF/MANIFEST.MF": manifest, "Plain.class": b"\xca\xfe\xba\xbe"})
    app = _jar({"META-INF/MANIFEST.MF": manifest,
                "META-INF/maven/org.example/rx-app/pom.properties": _pom("org.example", "rx-app", "1.4.0"),
                "BOOT-INF/lib/rx-lib-2.1.0-SNAPSHOT.jar": lib,
                "BOOT-INF/lib/plain.jar": plain})
    shaded = _jar({"META-INF/MANIFEST.MF": manifest,
                   "META-INF/maven/io.rx/rx-shaded/pom.properties": _pom("io.rx", "rx-shaded", "0.7"),
                   "META-INF/maven/org.dep/dep-core/pom.properties": _pom("org.dep", "dep-core", "3.2.1")})
    files = {"app/app.jar": app, "usr/share/java/rx-shaded-0.7.jar": shaded}
    truth = [TruthRow("java", n, v, None) for n, v in (
        ("org.example:rx-app", "1.4.0"), ("com.example.rx:rx-lib", "2.1.0-SNAPSHOT"),
        ("io.rx:rx-shaded", "0.7"), ("org.dep:dep-core", "3.2.1"))]
    return FixtureTree(files, truth, sorted(files), notes="jars written with zipfile in Maven's layout; truth is what was written")


APK_RECORDS = [
    # (P, V, A, L, o): musl's origin is itself; libcrypto3's is openssl (a subpackage); one has no licence.
    ("musl", "1.2.5-r0", "x86_64", "MIT", "musl"),
    ("libcrypto3", "3.3.2-r1", "x86_64", "Apache-2.0", "openssl"),
    ("alpine-baselayout-data", "3.6.5-r0", "x86_64", "GPL-2.0-only", "alpine-baselayout"),
    ("ca-certificates-bundle", "20240705-r0", "x86_64", "MPL-2.0 AND MIT", "ca-certificates"),
    ("rx-noarch-tool", "0.1_git20240101-r2", "noarch", None, "rx-noarch-tool"),
]


def apk_installed() -> FixtureTree:
    """`lib/apk/db/installed` written from the Apk spec: five records with their per-file lines."""
    blocks = []
    for i, (name, version, arch, license_, origin) in enumerate(APK_RECORDS):
        lines = [f"C:Q1{'A' * 26}{i}=", f"P:{name}", f"V:{version}", f"A:{arch}", "S:1024", "I:4096",
                 f"T:{name} for registry-explorer's tests", "U:https://example.invalid/"]
        if license_:
            lines.append(f"L:{license_}")
        lines += [f"o:{origin}", "m:Test <test@example.invalid>", "t:1700000000", "c:0123456789abcdef",
                  f"F:usr/share/{name}", f"R:{name}.txt", "a:0:0:644", f"Z:Q1{'B' * 26}{i}="]
        blocks.append("\n".join(lines) + "\n")
    data = "\n".join(blocks).encode()
    truth = [TruthRow("apk", n, v, a) for n, v, a, _, _ in APK_RECORDS]
    tree = FixtureTree({"lib/apk/db/installed": data}, truth, ["lib/apk/db/installed"],
                       notes="written from the Alpine wiki's Apk spec (apk is not packaged for Debian)")
    tree.sources = {row: rec[4] for row, rec in zip(truth, APK_RECORDS)}
    tree.licenses = {row: rec[3] for row, rec in zip(truth, APK_RECORDS)}
    return tree
