"""Sample images for "what is inside" (issue 25): package databases in layers, two tags to diff, an SBOM that lies.

`demo/inventory:1.0` and `demo/inventory:1.1` look like a small Debian-based Python application image.
Their package databases are written here, at build time, in the formats the package managers write
(dpkg's ``var/lib/dpkg/status``: deb822 stanzas as deb-control(5) and dpkg-query(1) describe them; Python's
``*.dist-info/METADATA``: the core metadata specification), from the tables below; no package manager runs
and no database file is committed. The real tools' own databases are what the test suite checks the
parsers against (tests/helpers/packagedbs*.py); these are for teaching, and small.

Two files stand in for shared libraries (2 and 3 MiB, half random: gzip halves them as it does real code),
so pulling an image moves what a small real one would, while its databases stay a few KiB.

* 1.0: layer 0 a Debian base (its status lists one package ``rc``: removed, configuration kept, so not
  installed), layer 1 ``apt-get install python3 openssl`` (status rewritten), layer 2 ``pip install
  requests``, layer 3 ``COPY app/``.
* 1.1: the same base layer (the same digest), layer 1 also upgrades OpenSSL (libssl3 lives in the base,
  but the upgrade is layer 1's), layer 2 newer requests and urllib3, layer 3 the app changed (a file
  modified, one added, a directory replaced by a symlink, a symlink re-pointed), layer 4 ``pip uninstall
  charset-normalizer`` and ``chmod`` (whiteouts, and a change of mode only).
* an SPDX 2.3 SBOM of 1.1, attached as an OCI referrer (listed in the referrers tag schema, as
  distribution 2.8 has no referrers API), that tells the truth about most packages but not all: it still
  says libssl3 3.0.11, lists charset-normalizer (uninstalled in layer 4) and forgets urllib3.

`layered_image` builds any such image from (members, created_by) per layer; the tests use it too.
"""

from __future__ import annotations

import io
import random
import tarfile
from functools import cache
from typing import Any

from .push import _Client, push_image
from .samples import (
    CREATED,
    EPOCH,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    SPDX_JSON,
    Blob,
    TestImage,
    dumps,
    gzip_bytes,
    sha256,
)

__all__ = ["REPOSITORY", "TAGS", "build_inventory", "layered_image", "seed", "tar_layer"]

REPOSITORY = "demo/inventory"
TAGS = ("1.0", "1.1")
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
STATUS = "var/lib/dpkg/status"
SITE = "usr/local/lib/python3.11/site-packages"
MAINTAINER = "Debian Maintainers <debian-devel@lists.debian.org>"

# A member of a layer: (path, kind, payload, mode); kind file|dir|symlink|hardlink|char|whiteout|opaque.
Member = tuple


def tar_layer(members: list[Member]) -> bytes:
    """A deterministic PAX tar of members in the order given (whiteouts may precede files, as real layers do)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, payload, mode in members:
            if kind == "whiteout":
                head, _, base = path.rpartition("/")
                path, kind, payload = f"{head}/.wh.{base}".lstrip("/"), "file", b""
            elif kind == "opaque":
                path, kind, payload = f"{path}/.wh..wh..opq", "file", b""
            info = tarfile.TarInfo(path)
            info.mtime, info.uname, info.gname = EPOCH, "root", "root"
            info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE}[kind]
            info.mode = mode if mode is not None else {"dir": 0o755, "symlink": 0o777}.get(kind, 0o644)
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
                tar.addfile(info)
            elif kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return buf.getvalue()


def layered_image(name: str, repository: str, tag: str, layers: list[tuple[bytes, str]], *,
                  compress=gzip_bytes, media_type: str = OCI_LAYER_GZIP) -> TestImage:
    """An OCI image of uncompressed layer tars (base first), each with the `created_by` of its history step."""
    blobs = [Blob(media_type, compress(raw)) for raw, _ in layers]
    config = Blob(OCI_CONFIG, dumps({
        "created": CREATED, "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(raw) for raw, _ in layers]},
        "history": [{"created": CREATED, "created_by": step} for _, step in layers]}))
    root = Blob(OCI_MANIFEST, dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                                     "layers": [b.descriptor() for b in blobs]}))
    return TestImage(name=name, repository=repository, tag=tag, root=root,
                     blobs={b.digest: b for b in (*blobs, config, root)}, push_order=[(tag, root)],
                     extra={"layers": blobs, "config_blob": config})


# -- the databases, written as the tools write them ---------------------------------------------------

OPENSSL_OLD, OPENSSL_FIX = "3.0.11-1~deb12u2", "3.0.13-1~deb12u1"
# (package, version, source or None, section, description); every one amd64.
BASE = [
    ("base-files", "12.4+deb12u5", None, "admin", "Debian base system miscellaneous files"),
    ("bash", "5.2.15-2+b2", "bash (5.2.15-2)", "shells", "GNU Bourne Again SHell"),
    ("ca-certificates", "20230311", None, "misc", "Common CA certificates"),
    ("coreutils", "9.1-1", None, "utils", "GNU core utilities"),
    ("dpkg", "1.21.22", None, "admin", "Debian package management system"),
    ("libc6", "2.36-9+deb12u4", "glibc", "libs", "GNU C Library: Shared libraries"),
    ("libssl3", OPENSSL_OLD, "openssl", "libs", "Secure Sockets Layer toolkit - shared libraries"),
    ("tzdata", "2024a-0+deb12u1", None, "localization", "time zone and daylight-saving time data"),
    ("zlib1g", "1:1.2.13.dfsg-1", "zlib", "libs", "compression library - runtime"),
]
PYTHON = [
    ("libexpat1", "2.5.0-1", "expat", "libs", "XML parsing C library - runtime library"),
    ("libpython3.11-stdlib", "3.11.2-6", "python3.11", "python", "Interactive high-level object-oriented language"),
    ("openssl", OPENSSL_OLD, None, "utils", "Secure Sockets Layer toolkit - cryptographic utility"),
    ("python3", "3.11.2-1+b1", "python3-defaults (3.11.2-1)", "python", "interactive high-level object-oriented language"),
    ("python3.11", "3.11.2-6", None, "python", "Interactive high-level object-oriented language (version 3.11)"),
]
REMOVED = ("e2fsprogs", "1.47.0-2")  # `dpkg -r` left it as rc: not installed
# Python distributions: (name, version, licence) as `pip install` wrote them.
PIP_10 = [("requests", "2.31.0", "Apache 2.0"), ("urllib3", "2.0.7", "MIT"), ("idna", "3.6", "BSD-3-Clause"),
          ("certifi", "2023.11.17", "MPL-2.0"), ("charset-normalizer", "3.3.2", "MIT")]
PIP_11 = [("requests", "2.32.3", "Apache 2.0"), ("urllib3", "2.2.2", "MIT"), ("idna", "3.6", "BSD-3-Clause"),
          ("certifi", "2023.11.17", "MPL-2.0"), ("charset-normalizer", "3.3.2", "MIT")]


def _stanza(name: str, version: str, source: str | None, section: str, description: str,
            status: str = "install ok installed") -> str:
    lines = [f"Package: {name}", f"Status: {status}", "Priority: optional", f"Section: {section}",
             f"Installed-Size: {100 + 7 * len(name)}", f"Maintainer: {MAINTAINER}", "Architecture: amd64"]
    if source:
        lines.append(f"Source: {source}")
    lines += [f"Version: {version}", f"Description: {description}", " A package of the registry-explorer sandbox."]
    return "\n".join(lines) + "\n"


def _status(packages: list[tuple], removed: bool = True) -> bytes:
    stanzas = [_stanza(*p) for p in sorted(packages)]
    if removed:
        name, version = REMOVED
        stanzas.append(_stanza(name, version, None, "admin", "ext2/ext3/ext4 file system utilities",
                               status="deinstall ok config-files"))
    return "\n".join(stanzas).encode()


def _dist(name: str, version: str, licence: str) -> list[Member]:
    """A pip-installed distribution: its dist-info (METADATA, RECORD, INSTALLER) and its module."""
    folder = name.replace("-", "_")
    info = f"{SITE}/{folder}-{version}.dist-info"
    meta = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} for the sandbox\n"
            f"License: {licence}\nRequires-Python: >=3.8\n\n{name} long description.\n").encode()
    module = f"{SITE}/{folder}/__init__.py"
    record = f"{module},,\n{info}/METADATA,,\n{info}/INSTALLER,,\n{info}/RECORD,,\n".encode()
    return [(info, "dir", b"", None), (f"{info}/INSTALLER", "file", b"pip\n", None),
            (f"{info}/METADATA", "file", meta, None), (f"{info}/RECORD", "file", record, None),
            (f"{SITE}/{folder}", "dir", b"", None), (module, "file", f'__version__ = "{version}"\n'.encode(), None)]


@cache
def _library(seed: int, size: int) -> bytes:
    """A shared library's stand-in: half seeded random bytes, half text, so gzip halves it as it does real code."""
    rnd = random.Random(seed)
    text = b"".join(b"symbol_%06d@@GLIBC_2.34\n" % i for i in range(size // 48 + 1))[: size - size // 2]
    return rnd.randbytes(size // 2) + text


def _dirs(*paths: str) -> list[Member]:
    return [(p, "dir", b"", None) for p in paths]


def _base() -> bytes:
    return tar_layer([
        *_dirs("etc", "usr", "usr/bin", "usr/lib", "usr/lib/x86_64-linux-gnu", "var", "var/lib", "var/lib/dpkg"),
        ("etc/debian_version", "file", b"12.5\n", None),
        ("etc/os-release", "file", b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n', None),
        ("usr/bin/bash", "file", b"\x7fELF bash 5.2.15\n", 0o755),
        ("usr/bin/sh", "symlink", "bash", None),
        ("usr/lib/x86_64-linux-gnu/libc.so.6", "file", _library(6, 2 << 20), 0o755),
        ("usr/lib/x86_64-linux-gnu/libssl.so.3", "file", b"\x7fELF libssl 3.0.11\n", None),
        (STATUS, "file", _status(BASE), None),
    ])


def _python_layer(openssl: str) -> bytes:
    fixed = [(p[0], openssl, *p[2:]) if p[0] == "libssl3" else p for p in BASE]
    python = [(p[0], openssl, *p[2:]) if p[0] == "openssl" else p for p in PYTHON]
    members = [*_dirs("usr", "usr/bin", "usr/lib", "usr/lib/python3.11", "usr/lib/x86_64-linux-gnu", "var", "var/lib",
                      "var/lib/dpkg"),
               ("usr/bin/python3.11", "file", b"\x7fELF python 3.11.2\n", 0o755),
               ("usr/bin/python3", "symlink", "python3.11", None),
               ("usr/bin/openssl", "file", f"\x7fELF openssl {openssl}\n".encode(), 0o755),
               ("usr/lib/python3.11/os.py", "file", b"# os module\n", None),
               ("usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0", "file", _library(311, 3 << 20), None),
               (STATUS, "file", _status(fixed + python), None)]
    if openssl != OPENSSL_OLD:  # the upgrade replaces the library the base layer installed
        members.append(("usr/lib/x86_64-linux-gnu/libssl.so.3", "file", f"\x7fELF libssl {openssl}\n".encode(), None))
    return tar_layer(members)


def _pip_layer(dists: list[tuple[str, str, str]]) -> bytes:
    members = _dirs("usr", "usr/local", "usr/local/lib", "usr/local/lib/python3.11", SITE)
    for d in dists:
        members += _dist(*d)
    return tar_layer(members)


APP_MAIN = b'import requests\n\nprint(requests.get("https://example.invalid").status_code)\n'


def _app_10() -> bytes:
    return tar_layer([
        *_dirs("app", "app/static"),
        ("app/main.py", "file", APP_MAIN, None),
        ("app/config.toml", "file", b'[server]\nport = 8080\n', None),
        ("app/legacy.py", "file", b"# kept for the old API\n", None),
        ("app/static/index.html", "file", b"<h1>hello</h1>\n", None),
        ("app/current", "symlink", "main.py", None),
    ])


def _app_11() -> bytes:
    return tar_layer([
        *_dirs("app", "srv", "srv/static"),
        ("app/main.py", "file", APP_MAIN.replace(b"status_code", b"json()"), None),
        ("app/config.toml", "file", b'[server]\nport = 8080\n', None),
        ("app/legacy.py", "file", b"# kept for the old API\n", None),
        ("app/static", "symlink", "/srv/static", None),
        ("srv/static/index.html", "file", b"<h1>hello again</h1>\n", None),
        ("app/current", "symlink", "legacy.py", None),
        ("app/healthz.py", "file", b"print('ok')\n", None),
    ])


def _cleanup_11() -> bytes:
    gone = f"{SITE}/charset_normalizer"
    return tar_layer([
        *_dirs("app", "usr", "usr/local", "usr/local/lib", "usr/local/lib/python3.11", SITE),
        (f"{gone}-3.3.2.dist-info", "whiteout", b"", None), (gone, "whiteout", b"", None),
        ("app/legacy.py", "whiteout", b"", None),
        ("app/config.toml", "file", b'[server]\nport = 8080\n', 0o600),
    ])


def _sbom() -> Blob:
    """SPDX 2.3 of 1.1 as a scanner might have written it from an older build: mostly right, not all."""
    truth = [(n, OPENSSL_FIX if n in ("libssl3", "openssl") else v) for n, v, *_ in BASE + PYTHON]
    claims = [(n, OPENSSL_OLD if n == "libssl3" else v) for n, v in truth]
    pkgs = [{"SPDXID": f"SPDXRef-deb-{n}", "name": n, "versionInfo": v, "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": f"pkg:deb/debian/{n}@{v.replace(':', '%3A')}?arch=amd64"}]}
            for n, v in claims]
    pkgs += [{"SPDXID": f"SPDXRef-pypi-{n}", "name": n, "versionInfo": v, "downloadLocation": "NOASSERTION",
              "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                "referenceLocator": f"pkg:pypi/{n}@{v}"}]}
             for n, v, _ in PIP_11 if n != "urllib3"]
    doc = {"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
           "name": f"{REPOSITORY}:1.1", "documentNamespace": "https://example.invalid/spdx/demo-inventory-1.1",
           "creationInfo": {"created": CREATED, "creators": ["Tool: registry-explorer-sandbox"]},
           "packages": pkgs, "relationships": []}
    return Blob(SPDX_JSON, dumps(doc))


def build_inventory() -> dict[str, Any]:
    """{"1.0": TestImage, "1.1": TestImage, "sbom": the SPDX blob, "referrer": its artifact manifest}."""
    base = (_base(), "ADD rootfs.tar.xz / # debian:bookworm-slim")
    v10 = layered_image("inventory-1.0", REPOSITORY, "1.0", [
        base, (_python_layer(OPENSSL_OLD), "RUN apt-get install -y python3 openssl"),
        (_pip_layer(PIP_10), "RUN pip install requests==2.31.0"), (_app_10(), "COPY app/ /app/")])
    v11 = layered_image("inventory-1.1", REPOSITORY, "1.1", [
        base, (_python_layer(OPENSSL_FIX), "RUN apt-get install -y python3 openssl && apt-get upgrade -y"),
        (_pip_layer(PIP_11), "RUN pip install requests==2.32.3"), (_app_11(), "COPY app/ /app/"),
        (_cleanup_11(), "RUN pip uninstall -y charset-normalizer && rm app/legacy.py && chmod 600 app/config.toml")])
    sbom = _sbom()
    empty = Blob(OCI_EMPTY, b"{}")
    referrer = Blob(OCI_MANIFEST, dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX_JSON, "config": empty.descriptor(),
        "layers": [sbom.descriptor()], "subject": v11.root.descriptor(),
        "annotations": {"org.opencontainers.image.created": CREATED}}))
    return {"1.0": v10, "1.1": v11, "sbom": sbom, "referrer": referrer, "empty": empty}


def seed(url: str, *, auth=None, verify: Any = True) -> dict[str, str]:
    """Push demo/inventory:1.0 and :1.1 and the SBOM of 1.1; returns {"inventory-1.0": ref, "inventory-1.1": ref}."""
    built = build_inventory()
    refs = {}
    for tag in TAGS:
        push_image(url, built[tag], auth=auth, verify=verify)
        refs[f"inventory-{tag}"] = f"{url.split('://', 1)[1]}/{REPOSITORY}:{tag}"
    client = _Client(url, REPOSITORY, auth=auth, verify=verify, session=None)
    for blob in (built["sbom"], built["empty"]):
        if not client.blob_exists(blob.digest):
            client.upload_blob(blob)
    referrer, subject = built["referrer"], built["1.1"].root
    client.put_manifest(referrer.digest, referrer)
    # distribution 2.8 has no referrers API: the referrers tag schema index, as oras and regctl keep it.
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [referrer.descriptor(
        artifactType=SPDX_JSON, annotations={"org.opencontainers.image.created": CREATED})]}
    client.put_manifest(subject.digest.replace(":", "-", 1), Blob(OCI_INDEX, dumps(index)))
    return refs
