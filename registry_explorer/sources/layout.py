"""OCI image layout directories as a source, and writing registry content into them.

A layout is `oci-layout`, `index.json` and `blobs/<alg>/<hex>`:
https://github.com/opencontainers/image-spec/blob/main/image-layout.md
References look like skopeo's: `oci:PATH[:TAG|@DIGEST]`. What we write matches what
`skopeo copy docker://… oci:…` writes for OCI content, byte for byte (blobs, manifests,
index.json and oci-layout), so either tool can read the other's copy.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from ..core import jsontext
from ..core import mediatypes as mt
from ..core.digest import manifest_digest
from ..core.errors import (
    DigestMismatch,
    InvalidManifest,
    InvalidReference,
    ManifestTooLarge,
    NotFound,
    RangeRefused,
    SizeMismatch,
)
from ..core.limits import MANIFEST_LIMIT
from ..core.models import Descriptor, Index, Manifest, parse_manifest
from ..core.reference import validate_digest
from ..http.trace import Trace, count_local
from .common import ProgressCallback, SourceBase, walk
from .download import fetch_to
from .protocol import SourceSettings

LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"
# skopeo (containers/image) writes the oci-layout file with a space after the colon.
OCI_LAYOUT_BYTES = b'{"imageLayoutVersion": "1.0.0"}'
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")


@dataclass(frozen=True)
class LayoutReference:
    """`oci:PATH[:TAG][@DIGEST]`: a tag or digest inside an OCI layout directory."""
    path: str
    tag: str | None = None
    digest: str | None = None

    registry = "oci"  # so code that shows `ref.registry` has something sensible

    @property
    def repository(self) -> str:
        """The layout path (plays the role of a repository)."""
        return self.path

    @property
    def name(self) -> str:
        """`oci:PATH`."""
        return f"oci:{self.path}"

    @property
    def identifier(self) -> str | None:
        """The digest if pinned, else the tag (None: the layout's only image)."""
        return self.digest or self.tag

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_digest(self, digest: str) -> LayoutReference:
        """The same layout entry pinned to `digest`."""
        return replace(self, digest=validate_digest(digest))

    def with_tag(self, tag: str) -> LayoutReference:
        """Another tag of the same layout."""
        return replace(self, tag=tag, digest=None)

    def repo(self) -> LayoutReference:
        """The layout itself."""
        return replace(self, tag=None, digest=None)

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(str(self))}</code>"


def parse_layout_reference(text: str | LayoutReference) -> LayoutReference:
    """Parse `oci:PATH[:TAG|@DIGEST]` (the `oci:` prefix is required)."""
    if isinstance(text, LayoutReference):
        return text
    if not isinstance(text, str) or not text.startswith("oci:"):
        raise InvalidReference(str(text), "an OCI layout reference looks like 'oci:PATH[:TAG|@DIGEST]'")
    rest = text[4:]
    digest = tag = None
    if "@" in rest:
        rest, _, digest = rest.rpartition("@")
        validate_digest(digest, source=text)
    head, sep, maybe_tag = rest.rpartition(":")
    # PATH may itself contain ':'; a tag is what follows the last ':' when it looks like one.
    if sep and head and _TAG_RE.match(maybe_tag) and "/" not in maybe_tag:
        rest, tag = head, maybe_tag
    if not rest:
        raise InvalidReference(text, "the layout path after 'oci:' is empty")
    return LayoutReference(rest, tag, digest)


class Layout(SourceBase):
    """An OCI image layout directory, read with the same API as `Client`."""
    # A layout asks no server: nothing to rate-limit, no document deadline (its files are local).
    rate_limit = None
    deadline = None
    origin = "layout"

    def __init__(self, path: str | os.PathLike, *, cache=None):
        self.path = Path(path)
        # No HTTP exchanges happen here; the trace records what came from the cache, as a Client's does.
        self.trace = Trace()
        self._init_source(cache)  # layer indexes only: the layout's own blobs are local already
        if not (self.path / "oci-layout").is_file():
            raise NotFound(
                f"{self.path} is not an OCI image layout (no oci-layout file); create one with "
                "client.save_layout(ref, path) or `skopeo copy docker://... oci:PATH:TAG`",
            )

    def __repr__(self) -> str:
        return f"Layout({str(self.path)!r})"

    # -- the three primitives -----------------------------------------------------------------

    def locate(self, registry: str | None, repository: str | None = None, tag: str | None = None) -> LayoutReference:
        """This layout, or one of its tags (a layout is one repository: `registry` and `repository` are ignored)."""
        return self.parse(tag) if tag else LayoutReference(str(self.path))

    def settings(self, *, docker_config=None, credential_provider: str | None = None) -> SourceSettings:
        """How a worker opens this layout: its path (and cache directory)."""
        return SourceSettings(kind="layout", path=str(self.path),
                              cache=str(self.cache.path) if self.cache is not None else None)

    def catalog(self, registry=None) -> list[str]:
        """A layout is one repository: its path (what `locate` and `tags` take)."""
        return [str(self.path)]

    def has_referrers_api(self, ref, digest: str) -> bool:
        """A layout has no API: its referrers come from a scan of index.json."""
        return False

    def parse(self, text: str | LayoutReference) -> LayoutReference:
        """`oci:PATH[:TAG|@DIGEST]`, or just `TAG` / `@DIGEST` / `TAG@DIGEST` within this layout."""
        if isinstance(text, LayoutReference):
            return text
        if isinstance(text, str) and text.startswith("oci:"):
            return parse_layout_reference(text)
        return parse_layout_reference(f"oci:{self.path}{'' if str(text).startswith('@') else ':'}{text}")

    def _index(self) -> dict:
        raw = _read_capped(self.path / "index.json", MANIFEST_LIMIT, "index.json")
        try:
            doc = jsontext.loads(raw)
        except ValueError as exc:
            raise InvalidManifest(f"{self.path}/index.json is not JSON: {str(exc)[:200]}") from None
        return doc if isinstance(doc, dict) else {}

    def _entries(self) -> list[Descriptor]:
        return [Descriptor.from_json(d, what="index.json entry") for d in self._index().get("manifests") or []]

    def _blob_path(self, digest: str) -> Path:
        algo, _, hexpart = validate_digest(digest).partition(":")
        return self.path / "blobs" / algo / hexpart

    def resolve(self, ref) -> Descriptor:
        """The index.json descriptor for a tag, or a descriptor built from the blob for a digest."""
        ref = self.parse(ref)
        entries = self._entries()
        if ref.digest:
            for d in entries:
                if d.digest == ref.digest:
                    return d
            raw = self._read_manifest_bytes(ref.digest)
            doc = parse_manifest(raw)
            return Descriptor(doc.media_type, ref.digest, len(raw))
        if ref.tag is None:
            if len(entries) == 1:
                return entries[0]
            raise InvalidReference(str(ref), f"the layout holds {len(entries)} images; name one with :TAG or @DIGEST")
        for d in entries:
            if d.annotations.get(REF_NAME) == ref.tag:
                return d
        raise NotFound(f"no tag {ref.tag!r} in {self.path}; tags: {', '.join(self.tags(ref)) or 'none'}")

    def _read_manifest_bytes(self, digest: str) -> bytes:
        return _read_capped(self._blob_path(digest), MANIFEST_LIMIT, f"manifest {digest}", error=ManifestTooLarge)

    def manifest(self, ref, descriptor: Descriptor | None = None) -> Manifest | Index:
        """The verified manifest or index that `ref` (or `descriptor`) names."""
        ref = self.parse(ref)
        desc = descriptor or self.resolve(ref)
        raw = self._read_manifest_bytes(desc.digest)
        what = f"manifest {desc.digest} in {self.path}"
        if desc.size >= 0 and len(raw) != desc.size:
            raise SizeMismatch(desc.size, len(raw), what=what)
        actual = manifest_digest(raw, desc.media_type, desc.digest.split(":", 1)[0])
        if actual != desc.digest:
            raise DigestMismatch(desc.digest, actual, what=what, origin="layout")
        return parse_manifest(raw, desc.media_type or None, descriptor=desc if desc.media_type else None,
                              reference=ref.with_digest(desc.digest))

    @contextlib.contextmanager
    def raw_blob(self, ref, descriptor: Descriptor, offset: int = 0) -> Iterator:
        """The blob file from `offset`, unverified (Source.open_blob and fetch_blobs verify it)."""
        path = self._blob_path(descriptor.digest)
        with _open_regular(path, f"blob {descriptor.digest}") as f:
            f.seek(offset)
            yield _FileBody(f, offset)

    def read_range(self, ref, descriptor: Descriptor, start: int, end: int) -> bytes:
        """Exactly bytes [start, end) of a blob file, unverified; RangeRefused if the file is shorter."""
        if isinstance(start, bool) or isinstance(end, bool) or not 0 <= start < end:
            raise ValueError(f"a byte range needs 0 <= start < end, not {start}..{end}")
        with self.raw_blob(self.parse(ref), descriptor, offset=start) as raw:
            data = raw.read(end - start)
        if len(data) != end - start:
            raise RangeRefused(f"blob {descriptor.digest} in {self.path} is shorter than its descriptor")
        return data

    # -- listings -------------------------------------------------------------------------------

    def tags(self, ref=None) -> list[str]:
        """The `org.opencontainers.image.ref.name` of every index.json entry (`ref` names the layout, as
        `Client.tags(repo)` names a repository; it may be omitted)."""
        return [d.annotations[REF_NAME] for d in self._entries() if REF_NAME in d.annotations]

    def referrers(self, ref, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests in the layout whose `subject` is `ref` (found by scanning index.json entries)."""
        subject = self.resolve(ref).digest
        out = []
        for d in self._entries():
            if not (mt.is_manifest(d.media_type) or mt.is_index(d.media_type)):
                continue
            doc = self.manifest(self.parse(f"@{d.digest}"), descriptor=d)
            if doc.subject is not None and doc.subject.digest == subject:
                at = doc.artifact_type
                if artifact_type is None or at == artifact_type:
                    out.append(Descriptor(d.media_type, d.digest, d.size, doc.annotations, artifact_type=at))
        return out


@contextlib.contextmanager
def _open_regular(path: Path, what: str) -> Iterator:
    """Open a layout file for reading, refusing anything but a regular file.

    A hostile layout can hold a FIFO (open() would block forever), a symlink to /dev/zero
    (endless bytes) or a device; `stat().st_size` says nothing true about those. O_NONBLOCK
    makes opening a FIFO return at once; fstat on the open descriptor then decides, with no
    window for the file to be swapped between the check and the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotFound(f"{what} is not in the layout ({path})") from None
    except OSError as exc:
        raise NotFound(f"{what} cannot be opened ({path}): {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidManifest(f"{what} in the layout is not a regular file ({path}); refusing to read it")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def _read_capped(path: Path, limit: int, what: str, error=None) -> bytes:
    """A whole small layout file (index.json, a manifest), refusing more than `limit` bytes."""
    with _open_regular(path, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise (error or ManifestTooLarge)(what, limit, os.stat(path).st_size)
    return data


class _FileBody:
    """A blob file positioned at `start`, with the reader interface Source expects; bytes read are counted."""
    def __init__(self, f, start: int):
        self.start = start
        self._f = f

    def read(self, n: int = -1) -> bytes:
        """Read and count (http.trace.metered sees a layout's reads as local bytes)."""
        data = self._f.read(n)
        count_local(len(data))
        return data

    def readinto(self, buf) -> int:
        """Read into `buf` and count."""
        n = self._f.readinto(buf) or 0
        count_local(n)
        return n


# -- writing ----------------------------------------------------------------------------------


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def init_layout(path: Path) -> None:
    """Create the oci-layout marker and an empty index.json if they are missing."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "oci-layout").exists():
        _atomic_write(path / "oci-layout", OCI_LAYOUT_BYTES)
    if not (path / "index.json").exists():
        _atomic_write(path / "index.json", b'{"schemaVersion":2,"manifests":[]}')


def write_manifest_blob(path: Path, digest: str, raw: bytes) -> None:
    """Store manifest bytes verbatim under blobs/ (unless already there)."""
    algo, _, hexpart = digest.partition(":")
    target = path / "blobs" / algo / hexpart
    if not target.exists():
        _atomic_write(target, raw)


def add_to_index(path: Path, desc: Descriptor, tag: str | None) -> None:
    """Record `desc` in index.json under `tag`, replacing an older entry of that tag (as skopeo does)."""
    index = json.loads((path / "index.json").read_bytes())
    entries = [e for e in index.get("manifests") or []
               if not (tag and (e.get("annotations") or {}).get(REF_NAME) == tag)]
    entry: dict = {"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size}
    if tag:
        entry["annotations"] = {REF_NAME: tag}
    if tag or not any(e.get("digest") == desc.digest for e in entries):
        entries.append(entry)
    # Go's json.Marshal of the index struct: compact, schemaVersion first, like skopeo's output.
    out = {"schemaVersion": 2, "manifests": entries}
    for k in ("mediaType", "annotations"):
        if k in index:
            out[k] = index[k]
    _atomic_write(path / "index.json", json.dumps(out, separators=(",", ":")).encode())


def copy_into_layout(source, ref, root: Manifest | Index, out: Path, tag: str | None,
                     progress: ProgressCallback | None = None) -> LayoutReference:
    """Write `root` and everything under it into the layout at `out` (what `Client.save_layout` does).

    Blobs land before manifests and index.json is updated last, so an interrupted copy is never
    listed; `walk` validates every digest before any becomes a file name.
    """

    docs, blobs = walk(source, ref, root)
    init_layout(out)
    todo = list(blobs.values())
    for algo in {d.digest.split(":", 1)[0] for d in todo}:
        (out / "blobs" / algo).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, min(source.workers, len(todo) or 1))) as pool:
        futures = [pool.submit(fetch_to, source, ref, d, out / "blobs" / d.digest.replace(":", "/", 1), progress)
                   for d in todo]
        for fut in futures:
            fut.result()
    for doc in reversed(docs):  # children before the index that lists them
        write_manifest_blob(out, doc.digest, doc.raw)
    add_to_index(out, root.descriptor, tag)
    return LayoutReference(str(out), tag, root.digest)
