"""dpkg's database: `var/lib/dpkg/status`, and distroless's `var/lib/dpkg/status.d/<name>`.

Both are deb822 stanzas (deb-control(5)): ``Field: value`` lines, continuation lines starting with a
space or tab, stanzas separated by empty lines. dpkg's `status` gives every package a ``Status: want
eflag state`` line (dpkg-query(1), "Package states"); distroless writes one file per package with the
package's control fields only (``dpkg-deb --field`` output, no Status), and `<name>.md5sums` files
next to them, which are not stanzas.

"Installed" is what dpkg itself calls installed: the state word is ``installed``, or one of the two
trigger states (``triggers-awaited``, ``triggers-pending``), whose files are unpacked and configured
and which dpkg counts as installed when it checks dependencies. ``config-files`` (``rc``: removed,
configuration kept), ``half-installed``, ``unpacked``, ``half-configured`` and ``not-installed`` are
not. The selection (install, hold, deinstall, purge) does not change what is on disk: a package on
hold (``hi``) or selected for removal that is still there (``ri``) is installed. A stanza of the
`status` file without a Status field is not installed (dpkg reads it as ``unknown ok
not-installed``); a distroless stanza without one is (every file there is an installed package).
"""

from __future__ import annotations

import re

from ..core.errors import InvalidManifest
from .records import (
    MAX_TEXT_DATABASE_BYTES,
    PackageRecord,
    check_size,
    count_guard,
    decode_text,
    field,
)

# dpkg's own rules (lib/dpkg/parsehelp.c pkg_name_is_illegal, parseversion; arch.c): names start
# alphanumeric and use - + . _; versions are [epoch:]upstream[-revision] from this alphabet.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_VERSION = re.compile(r"[A-Za-z0-9.+~:_-]+")
_ARCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_SOURCE = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9+._-]*)(?:\s+\((?P<version>[^()]*)\))?")
# dpkg-query(1): the three words of Status.
_WANTS = frozenset({"unknown", "install", "hold", "deinstall", "purge"})
_EFLAGS = frozenset({"ok", "reinstreq"})
_STATES = frozenset(
    {
        "not-installed",
        "config-files",
        "half-installed",
        "unpacked",
        "half-configured",
        "triggers-awaited",
        "triggers-pending",
        "installed",
    }
)
INSTALLED_STATES = frozenset({"installed", "triggers-awaited", "triggers-pending"})
# Only these fields are kept while reading a stanza (case-insensitive, as deb822 field names are).
_KEPT = frozenset({"package", "status", "version", "architecture", "source"})
# A field name (deb-control(5)): printable US-ASCII without colon or space, not starting with # or -.
_FIELD_NAME = re.compile(r"[!-9;-~]+")


def is_status_d(path: str) -> bool:
    """True for a distroless per-package stanza file (``.../status.d/<name>``)."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    return len(parts) >= 2 and parts[-2] == "status.d"


def parse_dpkg_status(data: bytes, path: str) -> list[PackageRecord]:
    """The installed packages of a dpkg `status` file or of one distroless `status.d/<name>` file.

    `path` is the file's path in the image (it names the database in each record, and decides
    whether a missing Status field means installed: only under ``status.d/``). A distroless
    ``status.d/<name>.md5sums`` file lists checksums, not packages: it gives no records.
    """
    what = f"dpkg database {path}"
    check_size(data, MAX_TEXT_DATABASE_BYTES, what)
    if is_status_d(path) and path.endswith(".md5sums"):
        return []
    text = decode_text(data, what)
    status_d = is_status_d(path)
    records: list[PackageRecord] = []
    for number, stanza in enumerate(_stanzas(text, what), start=1):
        record = _record(stanza, f"{what} stanza {number}", path, status_d)
        if record is not None:
            records.append(record)
            count_guard(records, what)
    return records


def _stanzas(text: str, what: str):
    """Yield each stanza as {lower-case field name: value} for the fields in _KEPT."""
    fields: dict[str, str] = {}
    seen: set[str] = set()
    current: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            if seen:
                yield fields
            fields, seen, current = {}, set(), None
            continue
        if line[0] in " \t":
            if current is None:
                raise InvalidManifest(f"{what} line {number}: a continuation line outside a field")
            if current in fields:
                fields[current] += "\n" + line.strip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not _FIELD_NAME.fullmatch(name) or name[0] in "#-":
            raise InvalidManifest(f"{what} line {number}: not a 'Field: value' line")
        key = name.lower()
        if key in seen:
            raise InvalidManifest(f"{what} line {number}: field {name!r} appears twice in one stanza")
        seen.add(key)
        current = key
        if key in _KEPT:
            fields[key] = value
    if seen:
        yield fields


def _record(stanza: dict[str, str], what: str, path: str, status_d: bool) -> PackageRecord | None:
    name = field(stanza.get("package"), f"{what}: Package", pattern=_NAME)
    status = stanza.get("status")
    if status is None:
        installed = status_d
    else:
        words = status.split()
        if len(words) != 3 or words[0] not in _WANTS or words[1] not in _EFLAGS or words[2] not in _STATES:
            raise InvalidManifest(f"{what}: Status {status.strip()[:80]!r} is not 'want eflag state' (dpkg-query(1))")
        installed = words[2] in INSTALLED_STATES
    if not installed:
        return None
    version = field(stanza.get("version"), f"{what}: Version of installed package {name}", pattern=_VERSION)
    arch = field(stanza.get("architecture"), f"{what}: Architecture", required=False, pattern=_ARCH)
    source = name
    raw_source = field(stanza.get("source"), f"{what}: Source", required=False)
    if raw_source is not None:
        match = _SOURCE.fullmatch(raw_source)
        if match is None:
            raise InvalidManifest(f"{what}: Source {raw_source[:80]!r} is not 'name [(version)]'")
        source = match.group("name")
    assert name is not None and version is not None
    # dpkg keeps no licence in its database (it lives in /usr/share/doc/<name>/copyright).
    return PackageRecord("deb", name, version, arch, source, None, path)
