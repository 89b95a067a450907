"""List what is inside layer blobs: stream, decompress and walk the tar without writing to disk.

A layer is read once, front to back: blob -> decompressor -> `tarfile` in stream mode (`r|`),
skipping file contents as it goes, so memory stays bounded whatever the layer size. The
compressed stream is read to its end afterwards, so the digest check of `Client.open_blob`
always runs. Hostile layers meet named limits (entries, path length, header size, decompressed
bytes) and every malformed input becomes an `InvalidManifest` or `TooLarge`, never a raw
tarfile/zlib traceback.

Layer format and whiteouts: https://github.com/opencontainers/image-spec/blob/main/layer.md
No pandas here; `registry_explorer.frames.files` builds DataFrames from these entries.
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

from . import mediatypes as mt
from .errors import DigestMismatch, InvalidManifest, SizeMismatch, TooLarge

# Real layers hold at most a few hundred thousand files (a full TeX Live or CUDA toolkit);
# a million leaves headroom while bounding what a hostile layer can make us hold.
MAX_ENTRIES = 1_000_000
# Linux PATH_MAX: no path longer than this can be extracted, so a longer one is hostile.
MAX_PATH_LENGTH = 4096
# Decompression-bomb cap. The largest real layers (ML images) are tens of GiB uncompressed;
# gzip can expand 1000:1 and zstd far more, so the compressed size alone bounds nothing.
MAX_DECOMPRESSED_BYTES = 64 << 30
# Tar header bytes one entry may carry (PAX records, GNU long names, sparse maps). Real ones are
# under 64 KiB even with xattrs; tarfile reads a PAX record into memory whole, so cap it.
MAX_HEADER_BYTES = 1 << 20
# Extended headers chained before one entry: global PAX, PAX, GNU long name and long link make
# 4 in practice. tarfile follows the chain by recursion, so a long chain would exhaust the stack.
MAX_HEADER_CHAIN = 16
# tarfile's stream buffer: it skips contents in reads of this size and copies its leftover
# on every header read. 16 KiB to 256 KiB measured alike (~300 MB/s); 64 KiB is the middle.
TAR_BUFSIZE = 64 << 10
# Compressed bytes pulled from the network per read.
IN_CHUNK = 256 << 10
# Compressed bytes handed to zlib per call: small enough that the output rarely exceeds one
# read, because zlib returns the unconsumed rest of its input as a fresh copy every call.
GZIP_FEED = 16 << 10
# libzstd's default window limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT = 27), as the zstd CLI uses without
# --memory; frames asking for more (`zstd --long=31`) would make us allocate up to 2 GiB.
ZSTD_MAX_WINDOW = 1 << 27

# https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
# Other `.wh..wh.` names are reserved (AUFS bookkeeping such as .wh..wh.plnk), not whiteouts.
RESERVED_PREFIX = ".wh..wh."

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_TYPES = {
    tarfile.DIRTYPE: "dir",
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
    tarfile.CHRTYPE: "char",
    tarfile.BLKTYPE: "block",
    tarfile.FIFOTYPE: "fifo",
}
# Errors a malformed stream raises from the decompressors and tarfile's parsing helpers.
_PARSE_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError, zlib.error, EOFError, ValueError, IndexError, OverflowError, RecursionError,
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One tar member of a layer, path normalised ('./usr/bin/' -> 'usr/bin', root -> '.').

    `whiteout` is None, "file" (a `.wh.<name>` marker: `path` is the deleted path) or "opaque"
    (a `.wh..wh..opq` marker: `path` is the directory whose lower-layer contents are hidden).
    """

    path: str
    type: str  # file, dir, symlink, hardlink, char, block, fifo, other
    size: int
    mode: int  # permission bits, including setuid/setgid/sticky (mode & 0o7777)
    uid: int
    gid: int
    mtime: float  # seconds since the epoch (PAX headers may carry fractions)
    linkname: str = ""
    whiteout: str | None = None


class Placed(NamedTuple):
    """An entry of a merged filesystem with the layer that last wrote it."""

    entry: Entry
    layer_index: int
    layer_digest: str


def normalize_path(name: str) -> str:
    """'./a//b/' -> 'a/b'; '', '/', './' -> '.'; '..' is kept (listed, never resolved)."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts) or "."


def _parent(path: str) -> str:
    return posixpath.dirname(path) or "."


def entry_from_tarinfo(info: tarfile.TarInfo) -> Entry:
    """The Entry for a tarfile member, with whiteout markers decoded."""
    path = normalize_path(info.name)
    base = posixpath.basename(path)
    whiteout = None
    if base == OPAQUE_WHITEOUT:
        whiteout, path = "opaque", _parent(path)
    elif base.startswith(WHITEOUT_PREFIX) and not base.startswith(RESERVED_PREFIX):
        whiteout = "file"
        path = normalize_path(posixpath.join(posixpath.dirname(path), base[len(WHITEOUT_PREFIX):]))
    if info.isreg():  # regular, contiguous and GNU sparse files
        kind = "file"
    else:
        kind = _TYPES.get(info.type, "other")
    linkname = normalize_path(info.linkname) if kind == "hardlink" else info.linkname
    return Entry(
        path=path, type=kind, size=int(info.size), mode=int(info.mode) & 0o7777, uid=int(info.uid),
        gid=int(info.gid), mtime=info.mtime, linkname=linkname, whiteout=whiteout,
    )


# --- streaming -------------------------------------------------------------------------------


def _invalid(what: str, message: str) -> InvalidManifest:
    return InvalidManifest(f"{what}: {message}")


@dataclass
class _Guard:
    """Limits and state shared by the decompressed reader and tarfile's header parsing."""

    what: str
    max_bytes: int
    max_path: int
    max_header: int = MAX_HEADER_BYTES
    total: int = 0  # decompressed bytes read so far
    depth: int = 0  # nesting of extended headers being parsed (0: between entries)
    header_start: int = 0  # `total` when the current entry's headers began


class _Counted:
    """The decompressed stream, counted: enforces the bomb cap and the per-entry header budget."""

    def __init__(self, src, guard: _Guard):
        self._src = src
        self._g = guard

    def read(self, n: int) -> bytes:
        """Read up to `n` decompressed bytes, enforcing the size and header caps."""
        g = self._g
        if g.depth and g.total - g.header_start > g.max_header:
            raise TooLarge(f"{g.what}: tar headers of one entry", g.max_header, g.total - g.header_start,
                           hint=" (a hostile or corrupt layer)")
        data = self._src.read(n)
        g.total += len(data)
        if g.total > g.max_bytes:
            raise TooLarge(f"{g.what} decompressed", g.max_bytes, g.total,
                           hint="; pass max_bytes= to list larger layers")
        return data


class _Prefixed:
    """A stream with some already-read bytes put back in front (for sniffing magic numbers)."""

    def __init__(self, head: bytes, raw):
        self._head = head
        self._raw = raw

    def read(self, n: int) -> bytes:
        """Read up to `n` bytes, the put-back head first."""
        if self._head:
            out, self._head = self._head[:n], self._head[n:]
            return out
        return self._raw.read(n)


class _GzipReader:
    """Incremental gzip decoder (RFC 1952, concatenated members allowed); each read() is bounded.

    zlib with `max_length` caps the output per call, so a bomb never inflates more than `n`
    bytes at once. Unlike gzip.GzipFile, truncation and trailing garbage raise our error.
    https://www.rfc-editor.org/rfc/rfc1952 and https://docs.python.org/3/library/zlib.html#zlib.Decompress.decompress
    """

    def __init__(self, raw, what: str):
        self._raw = raw
        self._what = what
        self._d: Any = None  # the current member's decompressor; None between members
        self._buf = b""  # compressed bytes read from `raw`
        self._pos = 0  # how much of _buf zlib has consumed
        self._raw_eof = False
        self._members = 0
        self._eof = False

    def read(self, n: int) -> bytes:
        """Inflate and return up to `n` bytes of the gzip stream."""
        while not self._eof:
            if self._pos >= len(self._buf) and not self._raw_eof:
                self._buf, self._pos = self._raw.read(IN_CHUNK), 0
                self._raw_eof = not self._buf
            if self._d is None:
                # Between members. gzip(1) and Python's gzip accept zero padding after a member.
                rest = self._buf[self._pos:]
                self._pos += len(rest) - len(rest.lstrip(b"\0"))
                if self._pos >= len(self._buf):
                    if not self._raw_eof:
                        continue
                    if not self._members:
                        raise _invalid(self._what, "the gzip stream is empty")
                    self._eof = True
                    break
                self._d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper only
            # Slicing a memoryview copies nothing; zlib copies back only what it did not consume.
            feed = memoryview(self._buf)[self._pos:self._pos + GZIP_FEED]
            try:
                out = self._d.decompress(feed, n)
            except zlib.error as exc:
                what = "data after the gzip stream is not gzip" if self._members else "the gzip stream is corrupt"
                raise _invalid(self._what, f"{what} ({exc})") from None
            if self._d.eof:
                self._pos += len(feed) - len(self._d.unused_data)
                self._d = None
                self._members += 1
            else:
                self._pos += len(feed) - len(self._d.unconsumed_tail)
                if not out and not feed and self._raw_eof:
                    raise _invalid(self._what, "the gzip stream is truncated")
            if out:
                return out
        return b""


def _zstd_reader(raw, what: str):
    try:
        import zstandard
    except ImportError:
        raise ImportError(f"{what} is zstd-compressed; reading it needs the zstandard package: "
                          "pip install zstandard") from None
    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    reader = dctx.stream_reader(raw, read_size=IN_CHUNK, read_across_frames=True, closefd=False)

    class _Zstd:
        def read(self, n: int) -> bytes:
            """Read up to `n` decompressed bytes, reporting a corrupt stream as our error."""
            try:
                return reader.read(n)
            except zstandard.ZstdError as exc:
                raise _invalid(what, f"the zstd stream is corrupt ({exc})") from None

    return _Zstd()


def _read_exact(raw, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = raw.read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def decompressed(raw, media_type: str | None, what: str = "layer"):
    """A reader of the tar inside `raw`, chosen by the media type's compression (sniffed if unknown)."""
    kind = mt.compression(media_type)
    if kind == "unknown":
        head = _read_exact(raw, len(ZSTD_MAGIC))
        kind = "gzip" if head.startswith(GZIP_MAGIC) else "zstd" if head.startswith(ZSTD_MAGIC) else "none"
        raw = _Prefixed(head, raw)
    if kind == "gzip":
        return _GzipReader(raw, what)
    if kind == "zstd":
        return _zstd_reader(raw, what)
    return raw


class _GuardedTarInfo(tarfile.TarInfo):
    """TarInfo whose header parsing enforces our limits and reports damage instead of stopping.

    tarfile ends the listing silently at an invalid or truncated header after the first one
    (TarFile.next); a truncated layer must be an error, so those cases raise here. Overrides
    `fromtarfile`, whose body is the same four lines in CPython 3.10 to 3.13.
    """

    guard: _Guard  # set on a per-stream subclass, because tarfile builds instances itself

    @classmethod
    def fromtarfile(cls, tar):
        """Parse the next tar header from `tar`, enforcing our limits."""
        g = cls.guard
        if g.depth == 0:
            g.header_start = g.total
        g.depth += 1
        try:
            if g.depth > MAX_HEADER_CHAIN:
                raise _invalid(g.what, f"more than {MAX_HEADER_CHAIN} extended tar headers chained before one entry")
            buf = tar.fileobj.read(tarfile.BLOCKSIZE)
            if len(buf) < tarfile.BLOCKSIZE:
                if not buf and g.depth == 1:
                    raise _invalid(g.what, "the tar stream ends without an end-of-archive marker (truncated)")
                raise _invalid(g.what, f"the tar stream is truncated inside a header at offset {tar.offset}")
            try:
                obj = cls.frombuf(buf, tar.encoding, tar.errors)
            except tarfile.EOFHeaderError:
                if g.depth == 1:
                    raise  # the end-of-archive marker: tarfile ends the listing
                raise _invalid(g.what, "an extended tar header is followed by the end-of-archive marker")
            except tarfile.HeaderError as exc:
                raise _invalid(g.what, f"invalid tar header at offset {tar.offset}: {exc}") from None
            obj.offset = tar.fileobj.tell() - tarfile.BLOCKSIZE
            try:
                obj = obj._proc_member(tar)
            except tarfile.HeaderError as exc:
                raise _invalid(g.what, f"invalid extended tar header at offset {obj.offset}: {exc}") from None
            if g.depth == 1:
                # A member larger than the whole decompressed budget is a lie; refuse it before
                # tarfile tries to skip it (it would loop on EOF for an absurd size).
                if obj.size < 0 or obj.size > g.max_bytes:
                    raise TooLarge(f"{g.what}: entry {obj.name[:200]!r}", g.max_bytes, obj.size)
                for label, value in (("path", obj.name), ("link target", obj.linkname)):
                    if len(value.encode("utf-8", "surrogateescape")) > g.max_path:
                        raise _invalid(g.what, f"a {label} is longer than {g.max_path} bytes: {value[:80]!r}...")
            return obj
        finally:
            g.depth -= 1


def iter_entries(
    fileobj: BinaryIO,
    media_type: str | None = None,
    *,
    what: str = "layer",
    max_entries: int = MAX_ENTRIES,
    max_path: int = MAX_PATH_LENGTH,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Iterator[Entry]:
    """Entries of a (compressed) layer stream, in archive order; reads `fileobj` to its end.

    Contents are skipped, never buffered. Malformed or truncated input raises InvalidManifest;
    a limit raises TooLarge (decompressed bytes, header size) or InvalidManifest (entries, paths).
    """
    for _tar, info in iter_members(fileobj, media_type, what=what, max_entries=max_entries,
                                   max_path=max_path, max_bytes=max_bytes):
        yield entry_from_tarinfo(info)


def iter_members(
    fileobj: BinaryIO,
    media_type: str | None = None,
    *,
    what: str = "layer",
    max_entries: int = MAX_ENTRIES,
    max_path: int = MAX_PATH_LENGTH,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """(tar, member) pairs under the same limits as iter_entries; `tar.extractfile(member)` works
    until the next member is requested (stream mode)."""
    guard = _Guard(what=what, max_bytes=max_bytes, max_path=max_path)
    stream = decompressed(fileobj, media_type, what)
    counted = _Counted(stream, guard)
    info_cls = type("_LayerTarInfo", (_GuardedTarInfo,), {"guard": guard})
    try:
        tar = tarfile.open(fileobj=counted, mode="r|", bufsize=TAR_BUFSIZE, tarinfo=info_cls)
    except _PARSE_ERRORS as exc:
        raise _invalid(what, f"not a readable tar archive ({type(exc).__name__}: {exc})") from None
    count = 0
    while True:
        try:
            info = tar.next()
        except _PARSE_ERRORS as exc:
            raise _invalid(what, f"the tar stream is truncated or damaged after {count} entries ({type(exc).__name__}: {exc})") from None
        if info is None:
            break
        tar.members.clear()  # stream mode still remembers every member; we do not need them
        count += 1
        if count > max_entries:
            raise _invalid(what, f"more than {max_entries} entries; pass max_entries= to list it anyway")
        yield tar, info
    # Read past the end-of-archive marker: the decompressor checks its trailer (gzip CRC) at
    # its end, and the compressed stream must reach EOF for the digest to be verified.
    while counted.read(IN_CHUNK):
        pass
    while fileobj.read(IN_CHUNK):
        pass


def iter_layer(
    client,
    ref,
    descriptor,
    *,
    max_entries: int = MAX_ENTRIES,
    max_path: int = MAX_PATH_LENGTH,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Iterator[Entry]:
    """Stream the entries of one layer blob, verified: DigestMismatch surfaces at the end.

    Entries are yielded before the digest is known; consume the generator to the end (as the
    DataFrame builders do) before trusting them. A damaged stream is first checked against
    its digest, so a corrupted download reports DigestMismatch rather than a broken layer.
    """
    what = f"layer {descriptor.digest}"
    with client.open_blob(ref, descriptor) as blob:
        try:
            yield from iter_entries(blob, descriptor.media_type, what=what, max_entries=max_entries,
                                    max_path=max_path, max_bytes=max_bytes)
        except (InvalidManifest, TooLarge):
            _verify_rest(blob)
            raise
        if getattr(blob, "verified", True) is False:  # defensive: EOF must have run the check
            raise DigestMismatch(descriptor.digest, "unverified", what=what)


def _verify_rest(blob) -> None:
    """Read the blob to its end so its digest is checked; a mismatch replaces the parse error."""
    try:
        while blob.read(IN_CHUNK):
            pass
    except (DigestMismatch, SizeMismatch):
        raise
    except Exception:  # the connection broke too: the parse error stays the one to report
        return


# --- merging ---------------------------------------------------------------------------------


class _Tree:
    """Paths with payloads plus a parent -> children index, so removing a subtree is cheap."""

    def __init__(self):
        self.nodes: dict[str, Any] = {}
        self.kids: defaultdict[str, set[str]] = defaultdict(set)

    def set(self, path: str, payload: Any) -> None:
        """Set the node at `path` to `payload`, linking it under its parent."""
        if path != ".":
            self.kids[_parent(path)].add(path)
        self.nodes[path] = payload

    def remove(self, path: str) -> None:
        """Remove `path` and everything below it."""
        self.remove_children(path)
        self.nodes.pop(path, None)
        siblings = self.kids.get(_parent(path)) if path != "." else None
        if siblings:
            siblings.discard(path)

    def remove_children(self, path: str) -> None:
        """Remove everything below `path`, keeping `path` itself."""
        stack = list(self.kids.pop(path, ()))
        while stack:
            p = stack.pop()
            self.nodes.pop(p, None)
            stack.extend(self.kids.pop(p, ()))

    def subtree(self, path: str) -> Iterator[Any]:
        """Payloads of `path` and its descendants."""
        stack = [path]
        while stack:
            p = stack.pop()
            if p in self.nodes:
                yield self.nodes[p]
            stack.extend(self.kids.get(p, ()))


def merge_layers(layers: Iterable[tuple[int, str, Iterable[Entry]]]) -> list[Placed]:
    """The final filesystem of stacked layers (base first), sorted by path, with who wrote what.

    Per the OCI layer spec, a layer's whiteouts apply to the layers below it only: a `.wh.x`
    removes x and everything under it; an opaque whiteout hides the lower contents of its
    directory, but not the entries of its own layer. Writing a non-directory over a directory
    removes the directory's contents, as extracting does (containerd's applier).
    """
    tree = _Tree()
    for index, digest, entries in layers:
        entries = list(entries)
        for e in entries:  # whiteouts first: they never hide entries of their own layer
            if e.whiteout == "file":
                tree.remove(e.path)
            elif e.whiteout == "opaque":
                tree.remove_children(e.path)
        for e in entries:
            if e.whiteout:
                continue
            old = tree.nodes.get(e.path)
            if old is not None and old.entry.type == "dir" and e.type != "dir":
                tree.remove_children(e.path)
            tree.set(e.path, Placed(e, index, digest))
    return [tree.nodes[p] for p in sorted(tree.nodes)]


# --- wasted space, as dive computes it ---------------------------------------------------------


@dataclass(frozen=True)
class PathUsage:
    """dive's EfficiencyData for one path: every version of it across layers."""

    path: str
    count: int  # versions: writes, plus whiteouts that removed it
    total_size: int  # dive's CumulativeSize: bytes of all versions
    min_size: int  # dive's minDiscoveredSize: the smallest version (0 for a removal)
    layers: tuple[int, ...]

    @property
    def wasted_size(self) -> int:
        """What the efficiency score charges this path: total_size - min_size."""
        return self.total_size - self.min_size


@dataclass(frozen=True)
class Efficiency:
    """dive's image efficiency: the score, the inefficient paths and the byte totals."""

    score: float
    inefficient: list[PathUsage] = field(repr=False)  # paths with count > 1, most wasted first
    wasted_bytes: int  # dive's WastedBytes: sum of total_size over the inefficient paths
    total_bytes: int  # dive's SizeBytes: sum of entry sizes over all layers
    user_bytes: int  # dive's UserSizeBytes: the same without the first (base) layer
    discovered_bytes: int  # sum of total_size over every path: the score's denominator

    @property
    def wasted_user_ratio(self) -> float:
        """dive's WastedUserPercent (a ratio): wasted_bytes / user_bytes."""
        return self.wasted_bytes / self.user_bytes if self.user_bytes else 0.0


class _Node(NamedTuple):
    size: int
    is_dir: bool
    whiteout: bool = False


_IMPLICIT = _Node(0, False)  # dive's FileInfo{} for a parent directory the tar never listed


def _dive_tree(entries: Iterable[Entry]) -> _Tree:
    """One layer as dive's FileTree: parents created implicitly, opaque markers dropped."""
    tree = _Tree()

    def add(path: str, node: _Node) -> None:
        """Add `node` at `path`, creating missing parents implicitly."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            p = "/".join(parts[:i])
            if p not in tree.nodes:
                tree.set(p, _IMPLICIT)
        tree.set(path, node)

    for e in entries:
        if e.path == "." and e.whiteout is None:
            continue  # dive skips the root entry
        if e.whiteout == "opaque":
            # dive's AddPath creates the parents, then refuses the `.wh..wh.` name itself.
            if e.path != "." and e.path not in tree.nodes:
                add(e.path, _IMPLICIT)
            continue
        if e.whiteout == "file":
            parent, name = posixpath.split(e.path)
            add(posixpath.join(parent, WHITEOUT_PREFIX + name), _Node(0, False, True))
        else:
            add(e.path, _Node(e.size, e.type == "dir"))
    return tree


def _target(path: str) -> str:
    parent, name = posixpath.split(path)
    return posixpath.join(parent, name[len(WHITEOUT_PREFIX):])


def _children_first(tree: _Tree) -> Iterator[str]:
    """Paths in dive's VisitDepthChildFirst order: children by name, then the node."""
    out: list[str] = []
    stack: list[tuple[str, bool]] = [(c, False) for c in sorted(tree.kids.get(".", ()), reverse=True)]
    while stack:
        p, expanded = stack.pop()
        if expanded:
            out.append(p)
            continue
        stack.append((p, True))
        stack.extend((c, False) for c in sorted(tree.kids.get(p, ()), reverse=True))
    return iter(out)


def efficiency(layers: Sequence[Iterable[Entry]]) -> Efficiency:
    """dive's efficiency score and wasted bytes for layers listed base first (pure).

    Reproduces https://github.com/wagoodman/dive/blob/main/dive/filetree/efficiency.go
    (Efficiency) and dive/image/docker/analyzer.go (WastedBytes):

    * every leaf of each layer's own tree is a version of its path: its tar size, or for a
      whiteout the summed sizes under the removed path in the layers below *if it was a
      directory* (0 if it was a file);
    * score = sum over paths of min_size / sum over paths of total_size (1.0 if no bytes),
      i.e. 1 - sum(total_size - min_size) / sum(total_size);
    * wasted_bytes = sum of total_size over paths with more than one version.

    Like dive, opaque whiteouts are ignored and a deleted directory's files are not charged
    one by one. One deviation: dive stops visiting a layer at a whiteout of a path that does
    not exist below it; here that whiteout just counts 0 bytes.
    """
    usage: dict[str, list] = {}  # path -> [count, total, min, layers]
    stacked = _Tree()  # dive's StackTreeRange of the layers below the current one
    total_bytes = user_bytes = 0
    for index, entries in enumerate(layers):
        entries = list(entries)
        layer_bytes = sum(e.size for e in entries)
        total_bytes += layer_bytes
        if index:
            user_bytes += layer_bytes
        tree = _dive_tree(entries)
        order = list(_children_first(tree))
        for path in order:
            if tree.kids.get(path):
                continue  # dive visits leaves only
            node = tree.nodes[path]
            if node.whiteout:
                path = _target(path)
                below = stacked.nodes.get(path)
                size = sum(n.size for n in stacked.subtree(path)) if below is not None and below.is_dir else 0
            else:
                size = node.size
            u = usage.setdefault(path, [0, 0, size, []])
            u[0] += 1
            u[1] += size
            u[2] = min(u[2], size)
            u[3].append(index)
        for path in order:  # dive's FileTree.Stack: whiteouts remove, the rest overwrite payloads
            node = tree.nodes[path]
            if node.whiteout:
                stacked.remove(_target(path))
                continue
            parts = path.split("/")
            for i in range(1, len(parts)):
                p = "/".join(parts[:i])
                if p not in stacked.nodes:
                    stacked.set(p, _IMPLICIT)
            stacked.set(path, node)
    discovered = sum(u[1] for u in usage.values())
    minimum = sum(u[2] for u in usage.values())
    score = minimum / discovered if discovered else 1.0
    inefficient = [PathUsage(p, u[0], u[1], u[2], tuple(u[3])) for p, u in usage.items() if u[0] > 1]
    inefficient.sort(key=lambda x: (-x.wasted_size, -x.total_size, x.path))
    return Efficiency(
        score=score,
        inefficient=inefficient,
        wasted_bytes=sum(x.total_size for x in inefficient),
        total_bytes=total_bytes,
        user_bytes=user_bytes,
        discovered_bytes=discovered,
    )
