"""Installed Python distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files.

A distribution is installed where its metadata file sits in a site directory (PEP 376 / the PyPA
"Recording installed projects" spec for dist-info; setuptools' egg-info directories, which Debian's
python3-* packages still ship; distutils' single-file `name-version-pyX.Y.egg-info`). The file is the
Core Metadata (packaging.python.org "Core metadata specifications"): RFC 822 headers, then an optional
body (the long description). Only the header block is read. This is what `pip list` lists.
"""

from __future__ import annotations

import re
from email.parser import HeaderParser
from email.policy import compat32

from ..core.errors import InvalidManifest
from .records import MAX_METADATA_BYTES, PackageRecord, check_size, decode_text, field

# PEP 508 names; legacy versions (pre PEP 440) are free-form, so only whitespace is refused there.
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"\S+")
# setuptools < 60 wrote "UNKNOWN" where a project declared no licence: it says nothing.
_NO_LICENSE = frozenset({"UNKNOWN", "NONE", ""})


def metadata_kind(path: str) -> str | None:
    """``dist-info``, ``egg-info`` or ``egg-info-file`` when `path` is an installed-metadata path."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if len(parts) >= 2 and parts[-1] == "METADATA" and parts[-2].endswith(".dist-info"):
        return "dist-info"
    if len(parts) >= 2 and parts[-1] == "PKG-INFO" and parts[-2].endswith(".egg-info"):
        return "egg-info"
    if parts[-1].endswith(".egg-info"):
        return "egg-info-file"
    return None


def parse_python_metadata(data: bytes, path: str) -> list[PackageRecord]:
    """The one distribution whose METADATA / PKG-INFO (or single-file .egg-info) `data` is."""
    what = f"Python metadata {path}"
    check_size(data, MAX_METADATA_BYTES, what)
    text = decode_text(data, what).replace("\r\n", "\n")
    # The body (long description) can be most of the file and is not read.
    head, _, _ = text.partition("\n\n")
    headers = HeaderParser(policy=compat32).parsestr(head + "\n", headersonly=True)
    name = field(_one(headers, "Name", what), f"{what}: Name", pattern=_NAME)
    version = field(_one(headers, "Version", what), f"{what}: Version of {name}", pattern=_VERSION)
    # Metadata 2.4 (PEP 639) adds an SPDX License-Expression; before it, License is free text.
    license_ = field(_one(headers, "License-Expression", what), f"{what}: License-Expression", required=False)
    if license_ is None:
        license_ = field(_one(headers, "License", what), f"{what}: License", required=False)
        if license_ is not None and license_.upper() in _NO_LICENSE:
            license_ = None
    assert name is not None and version is not None
    return [PackageRecord("python", name, version, None, None, license_, path)]


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: the name pip and importlib compare distributions by."""
    return re.sub(r"[-_.]+", "-", name).lower()


def distinct_per_site(records: list[PackageRecord]) -> list[PackageRecord]:
    """One record per distribution name and site directory, as `pip list` shows them.

    A site directory can hold two metadata files of one distribution: Debian's python3-cryptography
    ships both ``cryptography-38.0.4.dist-info`` and ``cryptography.egg-info``, and a
    ``setup.py install`` over a wheel install leaves both. importlib.metadata (and so pip) lists the
    name once per directory; here the dist-info wins, then an egg-info directory, then an egg-info file.
    """
    rank = {"dist-info": 0, "egg-info": 1, "egg-info-file": 2}
    best: dict[tuple[str, str], PackageRecord] = {}
    for record in records:
        kind = metadata_kind(record.database)
        if kind is None:
            raise ValueError(f"{record.database} is not a Python metadata path")
        parts = record.database.replace("\\", "/").split("/")
        site = "/".join(parts[: -2 if kind != "egg-info-file" else -1])
        key = (site, canonical_name(record.name))
        if key not in best or rank[kind] < rank[metadata_kind(best[key].database) or "egg-info-file"]:
            best[key] = record
    return list(best.values())


def _one(headers, key: str, what: str) -> str | None:
    values = headers.get_all(key) or []
    if len(values) > 1:
        raise InvalidManifest(f"{what}: {key} appears {len(values)} times")
    if not values:
        return None
    value = values[0]
    if not isinstance(value, str):  # compat32 returns Header objects for undecodable bytes
        raise InvalidManifest(f"{what}: {key} is not text")
    # Folded lines (RFC 822 continuation) keep their newline; a licence text reads as lines.
    return "\n".join(line.strip() for line in value.splitlines())
