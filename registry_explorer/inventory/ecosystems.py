"""The cheap ecosystems: npm's `node_modules/<name>/package.json` and Maven's `pom.properties` in jars.

Go's build info (a section of each Go binary, read by `go version -m`) is not read yet: no Go toolchain
is on the machines that would make its test fixtures, so it would be code without a truth to check it.

- npm installs each package into ``node_modules/<name>/`` or ``node_modules/@scope/<name>/`` (nested
  under another package's ``node_modules`` when versions conflict); its package.json names it
  (docs.npmjs.com, "package.json": ``name``, ``version``, ``license``).
- Maven's archiver writes ``META-INF/maven/<groupId>/<artifactId>/pom.properties`` (``groupId``,
  ``artifactId``, ``version``) into every jar it builds; fat jars (Spring Boot ``BOOT-INF/lib``,
  wars ``WEB-INF/lib``) carry their dependencies as jars inside the jar, read one level deep.
"""

from __future__ import annotations

import io
import lzma
import re
import struct
import zipfile
import zlib

from ..core import jsontext
from ..core.errors import InvalidManifest, TooLarge
from .records import MAX_METADATA_BYTES, PackageRecord, check_size, field

# validate-npm-package-name: an optional @scope/, then URL-safe characters; old packages had capitals.
_NPM_NAME = re.compile(r"(?:@[A-Za-z0-9._~-]+/)?[A-Za-z0-9._~-]+")
_NPM_VERSION = re.compile(r"[0-9A-Za-z.+_-]+")
# A jar or war in an image: application fat jars reach a few hundred MB; read into memory, so bounded.
MAX_ARCHIVE_BYTES = 512 << 20
# The central directory: ~80 bytes an entry, so 64 MiB is ~800,000 entries (big fat jars have
# ~50,000). zipfile builds an object per entry, so this bounds memory before it starts.
MAX_CENTRAL_DIRECTORY_BYTES = 64 << 20
# A pom.properties file is a handful of lines.
MAX_PROPERTIES_BYTES = 64 << 10
# A jar inside a jar, read into memory to be opened: dependency jars are at most tens of MB.
MAX_NESTED_ARCHIVE_BYTES = 128 << 20
# What zipfile lets through on a damaged archive: its own errors, and the decompressors' (zlib.error and
# LZMAError are not wrapped; bz2 raises OSError), RuntimeError for an encrypted member.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError, OSError,
               RuntimeError, zlib.error, lzma.LZMAError, struct.error)
_POM = re.compile(r"META-INF/maven/(?P<group>[^/]+)/(?P<artifact>[^/]+)/pom\.properties")
_NESTED = re.compile(r"(?:BOOT-INF|WEB-INF)/lib/[^/]+\.jar")
_MAVEN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_MAVEN_VERSION = re.compile(r"[A-Za-z0-9_.+-]+")


def parse_npm_package_json(data: bytes, path: str) -> list[PackageRecord]:
    """The package a `node_modules/.../package.json` describes ([] when it has no name or version)."""
    what = f"npm package.json {path}"
    check_size(data, MAX_METADATA_BYTES, what)
    try:
        doc = jsontext.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidManifest(f"{what}: not JSON ({exc.__class__.__name__})")
    if not isinstance(doc, dict):
        raise InvalidManifest(f"{what}: not a JSON object")
    if doc.get("name") is None or doc.get("version") is None:
        return []  # a package.json that names no package (a workspace root, a test fixture)
    name = field(doc["name"], f"{what}: name", pattern=_NPM_NAME)
    version = field(doc["version"], f"{what}: version of {name}", pattern=_NPM_VERSION)
    assert name is not None and version is not None
    return [PackageRecord("npm", name, version, None, None, _npm_license(doc, what), path)]


def _npm_license(doc: dict, what: str) -> str | None:
    value = doc.get("license")
    if isinstance(value, dict):  # the deprecated {"type": ..., "url": ...} form
        value = value.get("type")
    if value is None and isinstance(doc.get("licenses"), list):  # older still: a list of those
        types = [x.get("type") if isinstance(x, dict) else x for x in doc["licenses"]]
        if types and all(isinstance(t, str) for t in types):
            value = " OR ".join(types)
    return field(value, f"{what}: license", required=False)


def parse_java_archive(data: bytes, path: str) -> list[PackageRecord]:
    """Every Maven artifact a jar/war/ear names in its `pom.properties`, and those of its lib/ jars."""
    return _archive(data, path, nested=True)


def _archive(data: bytes, path: str, *, nested: bool) -> list[PackageRecord]:
    what = f"Java archive {path}"
    check_size(data, MAX_ARCHIVE_BYTES, what)
    _check_central_directory(bytes(data), what)
    records: list[PackageRecord] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if _POM.fullmatch(info.filename):
                    records.extend(_pom(_member(archive, info, MAX_PROPERTIES_BYTES, what), info.filename, path, what))
                elif nested and _NESTED.fullmatch(info.filename):
                    inner = _member(archive, info, MAX_NESTED_ARCHIVE_BYTES, what)
                    records.extend(_archive(inner, f"{path}!/{info.filename}", nested=False))
    except _ZIP_ERRORS as exc:
        raise InvalidManifest(f"{what}: not a readable zip ({exc.__class__.__name__}: {str(exc)[:120]})")
    return records


def _check_central_directory(data: bytes, what: str) -> None:
    """TooLarge when the end-of-central-directory record (APPNOTE 4.3.16) declares a huge directory."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end < 0 or end + 22 > len(data):
        raise InvalidManifest(f"{what}: no zip end-of-central-directory record")
    size = struct.unpack_from("<I", data, end + 12)[0]
    if size == 0xFFFFFFFF and end >= 20 and data[end - 20 : end - 16] == b"PK\x06\x07":
        offset = struct.unpack_from("<Q", data, end - 12)[0]
        if offset + 56 <= len(data) and data[offset : offset + 4] == b"PK\x06\x06":
            size = struct.unpack_from("<Q", data, offset + 40)[0]
    if size > MAX_CENTRAL_DIRECTORY_BYTES:
        raise TooLarge(f"{what} central directory", MAX_CENTRAL_DIRECTORY_BYTES, size)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    if info.file_size > limit:
        raise TooLarge(f"{what} member {info.filename}", limit, info.file_size)
    with archive.open(info) as member:
        content = member.read(limit + 1)
    if len(content) > limit:  # a member that inflates past what its header declared
        raise TooLarge(f"{what} member {info.filename}", limit, len(content))
    return content


def _pom(content: bytes, member: str, path: str, what: str) -> list[PackageRecord]:
    """pom.properties: java.util.Properties text (key=value or key: value, # and ! comments)."""
    where = f"{what}!/{member}"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = content.decode("latin-1")  # Properties files were ISO-8859-1 before Java 9
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, _, value = _split(line)
        values.setdefault(key, value)
    group = field(values.get("groupId"), f"{where}: groupId", pattern=_MAVEN_ID)
    artifact = field(values.get("artifactId"), f"{where}: artifactId", pattern=_MAVEN_ID)
    version = field(values.get("version"), f"{where}: version of {artifact}", pattern=_MAVEN_VERSION)
    return [PackageRecord("java", f"{group}:{artifact}", str(version), None, None, None, f"{path}!/{member}")]


def _split(line: str) -> tuple[str, str, str]:
    match = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)", line)
    if match is None:
        return line, "", ""
    return match.group(1), "=", match.group(2)
