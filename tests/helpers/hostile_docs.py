"""A small registry of mutable documents for the error-contract properties (issue 21, class 7).

`World` builds one repository bottom-up - a gzip layer and an eStargz layer (its TOC vouched for by
the manifest's annotation), a config, an image manifest, an attestation manifest and its in-toto
statement, an index over them, a signature artifact found through the referrers API, the tag
list and the catalog - applying a mutation to any document BEFORE its parent names it, so the
parent's digest and size match: a mutated document passes digest verification and reaches the
parser, which is where a foreign exception would come from. `serve(world)` answers the
distribution API for it (Range included, for peek), with hostile headers and statuses mixed in.
The hypothesis strategies at the end draw the mutations.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import re
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from registry_explorer.peek.estargz import TOC_NAME, estargz_layer, footer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
INTOTO = "application/vnd.in-toto+json"
TOC_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
REPO = "repo"
DOCS = ("layer", "toc", "config", "manifest", "statement", "attestation", "index", "signature", "referrers",
        "tags", "catalog")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m, io.BytesIO(b"\0" * m.size) if m.isreg() and m.size else None)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


BASE_FILES = [("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"), ("bin/busybox", b"\x7fELF" + b"\0" * 60),
              _symlink("bin/sh", "busybox"), ("etc/os-release", b"ID=hostile\n")]
STARGZ_FILES = [("opt", "dir", b""), ("opt/app", "dir", b""), ("opt/app/data.txt", "reg", b"stargz data\n" * 40),
                ("opt/app/link", "symlink", "data.txt")]


def restargz(blob: bytes, mutate: Callable[[Any], Any] | None, raw_toc: Callable[[bytes], bytes] | None) -> tuple[bytes, str]:
    """The eStargz blob with its TOC mutated (JSON-level `mutate`, then byte-level `raw_toc`), and the new TOC digest."""
    toc_offset = int(re.search(rb"([0-9a-f]{16})STARGZ", blob[-51:]).group(1), 16)
    tail = zlib.decompressobj(wbits=31).decompress(blob[toc_offset:-51])
    info = tarfile.TarInfo.frombuf(tail[:512], "utf-8", "surrogateescape")
    toc = tail[512:512 + info.size]
    if mutate is not None:
        toc = json.dumps(mutate(json.loads(toc))).encode("utf-8", "surrogatepass")
    if raw_toc is not None:
        toc = raw_toc(toc)
    new_info = tarfile.TarInfo(TOC_NAME)
    new_info.size, new_info.mtime = len(toc), 0
    tail = new_info.tobuf(tarfile.PAX_FORMAT) + toc + b"\0" * (-len(toc) % 512) + b"\0" * 1024
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    member = b"\x1f\x8b\x08\0\0\0\0\0\0\xff" + c.compress(tail) + c.flush() + struct.pack(
        "<II", zlib.crc32(tail), len(tail) & 0xFFFFFFFF)
    return blob[:toc_offset] + member + footer(toc_offset), sha256(toc)


@dataclass
class Plan:
    """What to break: JSON mutations per document, byte mutations per document, headers and statuses per kind."""

    json: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    raw: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)
    layer_members: list | None = None  # hostile tar members for the gzip layer
    headers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # kind -> extra headers
    status: dict[str, int] = field(default_factory=dict)  # kind -> status instead of 200
    length: dict[str, str] = field(default_factory=dict)  # kind -> a hostile Content-Length


def _enc(obj: Any) -> bytes:
    return json.dumps(obj).encode("utf-8", "surrogatepass")


@dataclass
class World:
    """The served files: path -> (bytes, content type, kind); and the names the calls use."""

    files: dict[str, tuple[bytes, str, str]]
    index: str
    image: str
    subject: str

    @classmethod
    def build(cls, plan: Plan) -> World:
        files: dict[str, tuple[bytes, str, str]] = {}

        def doc(name: str, obj: Any) -> bytes:
            if name in plan.json:
                obj = plan.json[name](copy.deepcopy(obj))
            data = _enc(obj)
            return plan.raw[name](data) if name in plan.raw else data

        def blob(data: bytes, ctype: str = "application/octet-stream") -> dict:
            files[f"/v2/{REPO}/blobs/{sha256(data)}"] = (data, ctype, "blob")
            return {"digest": sha256(data), "size": len(data)}

        def manifest(data: bytes, ctype: str, *tags: str) -> dict:
            for ref in (sha256(data), *tags):
                files[f"/v2/{REPO}/manifests/{ref}"] = (data, ctype, "manifest")
            return {"mediaType": ctype, "digest": sha256(data), "size": len(data)}

        tar = _tar(plan.layer_members if plan.layer_members is not None else BASE_FILES)
        layer = gzip.compress(tar, mtime=0)
        layer = plan.raw["layer"](layer) if "layer" in plan.raw else layer
        sgz, toc_digest, sgz_diff = estargz_layer(STARGZ_FILES)
        if "toc" in plan.json or "toc" in plan.raw:
            sgz, toc_digest = restargz(sgz, plan.json.get("toc"), plan.raw.get("toc"))
        config = doc("config", {
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin", "A=1"], "Cmd": ["/bin/sh"], "Labels": {"a": "b"}, "User": "0"},
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar), sgz_diff]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs"},
                        {"created_by": "ENV A=1", "empty_layer": True}, {"created_by": "ADD stargz"}]})
        image = doc("manifest", {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": OCI_CONFIG, **blob(config)},
            "layers": [{"mediaType": LAYER_GZ, **blob(layer)},
                       {"mediaType": LAYER_GZ, **blob(sgz), "annotations": {TOC_ANNOTATION: toc_digest}}],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}})
        image_desc = manifest(image, OCI_MANIFEST, "img")
        statement = doc("statement", {
            "_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
            "subject": [{"name": "pkg:docker/repo@img", "digest": {"sha256": image_desc["digest"][7:]}}],
            "predicate": {"buildDefinition": {"buildType": "https://example.test/build", "externalParameters": {},
                                              "resolvedDependencies": [{"uri": "git+https://x.test/r",
                                                                        "digest": {"sha1": "0" * 40}}]},
                          "runDetails": {"builder": {"id": "https://builder.test"}}}})
        empty = blob(b"{}")
        attestation = doc("attestation", {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": OCI_CONFIG, **empty},
            "layers": [{"mediaType": INTOTO, **blob(statement),
                        "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v1"}}]})
        att_desc = manifest(attestation, OCI_MANIFEST)
        index = doc("index", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**image_desc, "platform": {"architecture": "amd64", "os": "linux"}},
            {**att_desc, "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                             "vnd.docker.reference.digest": image_desc["digest"]}}]})
        index_desc = manifest(index, OCI_INDEX, "v1")
        signature = doc("signature", {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SIG_TYPE,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", **empty},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", **blob(b'{"critical":{}}')}],
            "subject": image_desc})
        sig_desc = manifest(signature, OCI_MANIFEST)
        referrers = doc("referrers", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**sig_desc, "artifactType": SIG_TYPE}]})
        for digest in (image_desc["digest"], index_desc["digest"]):
            files[f"/v2/{REPO}/referrers/{digest}"] = (referrers, OCI_INDEX, "list")
        files[f"/v2/{REPO}/tags/list"] = (doc("tags", {"name": REPO, "tags": ["v1", "img"]}), "application/json",
                                          "list")
        files["/v2/_catalog"] = (doc("catalog", {"repositories": [REPO]}), "application/json", "list")
        return cls(files, index=index_desc["digest"], image=image_desc["digest"], subject=image_desc["digest"])


def serve(world: World, plan: Plan):
    """A responder for helpers.hostile.recording_server answering `world`, `plan`'s headers and statuses mixed in."""
    def respond(h, s) -> None:
        path = s.path.split("?", 1)[0]
        if path == "/v2/":
            return h.json(200, {})
        hit = world.files.get(path)
        if hit is None:
            return h.json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})
        body, ctype, kind = hit
        status = plan.status.get(kind, 200)
        headers = [("Content-Type", ctype), ("Docker-Content-Digest", sha256(body))]
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", s.header("Range") or "")
        if kind == "blob" and rng and status == 200:
            start = int(rng.group(1))
            end = min(int(rng.group(2)) if rng.group(2) else len(body) - 1, len(body) - 1)
            if start >= len(body):
                return h.reply(416, b"", [("Content-Range", f"bytes */{len(body)}")])
            body, status = body[start:end + 1], 206
            headers.append(("Content-Range", f"bytes {start}-{end}/{len(world.files[path][0])}"))
        names = {k.lower() for k, _ in plan.headers.get(kind, [])}
        headers = [(k, v) for k, v in headers if k.lower() not in names] + plan.headers.get(kind, [])
        h.reply(status, body, headers, length=plan.length.get(kind))
    return respond


# -- strategies ------------------------------------------------------------------------------------------

KEYS = ["mediaType", "digest", "size", "platform", "annotations", "manifests", "layers", "config", "subject",
        "artifactType", "urls", "data", "os", "architecture", "variant", "os.version", "history", "rootfs",
        "diff_ids", "created", "created_by", "empty_layer", "Env", "Cmd", "Entrypoint", "Labels", "User",
        "predicateType", "predicate", "name", "entries", "type", "offset", "chunkOffset", "chunkSize",
        "chunkDigest", "linkName", "mode", "tags", "repositories", "payload", "payloadType", "signatures",
        "schemaVersion", "version", "uid", "gid", "modtime", "vnd.docker.reference.digest",
        "vnd.docker.reference.type", "in-toto.io/predicate-type", TOC_ANNOTATION]
HOSTILE_TEXT = ["", "\ud800", "\udfff", "x\ud83dy", "\x00", "\x1b]0;pwned\x07", "sha256:", "sha256:" + "0" * 64,
                "sha256:" + "Z" * 64, "sha512:" + "a" * 128, "md5:0123", "blake3:" + "a" * 64, "../../etc/passwd",
                "/etc/passwd", "a" * 5000, OCI_INDEX, OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v1+prettyjws",
                "application/vnd.docker.distribution.manifest.list.v2+json", "linux/amd64", "unknown/unknown",
                "https://slsa.dev/provenance/v0.2", "https://spdx.dev/Document", "reg", "symlink", "dir", "hardlink",
                "chunk", "char", "javascript:alert(1)", "2024-13-45T99:99:99Z", "NaN", "-1", "1e999", "²"]
HOSTILE_NUMBERS = [2**63, 2**64, -(2**63) - 1, -1, 0, 10**30, 1e308, float("inf"), float("-inf"), float("nan"), -0.0,
                   0.5, True, False]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from(HOSTILE_NUMBERS),
                    st.sampled_from(HOSTILE_TEXT), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3), max_leaves=8)


def _nodes(obj: Any, out: list) -> list:
    """Every (container, key) in obj, depth first."""
    if isinstance(obj, dict):
        for k in list(obj):
            out.append((obj, k))
            _nodes(obj[k], out)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _nodes(obj[i], out)
    return out


@st.composite
def json_mutation(draw) -> Callable[[Any], Any]:
    """One structural change to a JSON document: replace, delete, insert a key, or replace the whole."""
    op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "insert", "root"]))
    pick = draw(st.integers(0, 10_000))
    value = draw(values)
    key = draw(st.sampled_from(KEYS))

    def mutate(doc: Any) -> Any:
        if op == "root":
            return value
        nodes = _nodes(doc, [])
        if not nodes:
            return value
        container, k = nodes[pick % len(nodes)]
        if op == "replace":
            container[k] = value
        elif op == "delete":
            del container[k]
        elif isinstance(container[k], dict):
            container[k][key] = value
        else:
            container[k] = {key: value}
        return doc
    mutate.__name__ = f"{op}@{pick}"  # hypothesis prints the plan; this says what was done
    return mutate


RAW_OPS = {
    "truncate": lambda b, n: b[: n % max(len(b), 1)],
    "junk-after": lambda b, n: b + b"\x00garbage" * (n % 3 + 1),
    "bom": lambda b, n: b"\xef\xbb\xbf" + b,
    "not-json": lambda b, n: b"<html>" + b[:10],
    "utf16": lambda b, n: b.decode("latin-1").encode("utf-16"),
    "empty": lambda b, n: b"",
    "deep": lambda b, n: b"[" * 100_000 + b"]" * 100_000,
    "flip": lambda b, n: b[: n % max(len(b), 1)] + bytes([b[n % max(len(b), 1)] ^ 0xFF]) + b[n % max(len(b), 1) + 1:]
    if b else b"\xff",
    "random": lambda b, n: hashlib.sha256(str(n).encode()).digest() * (n % 5 + 1),
    "gzip-junk": lambda b, n: gzip.compress(hashlib.sha256(str(n).encode()).digest() * 40, mtime=0),
}


@st.composite
def raw_mutation(draw) -> Callable[[bytes], bytes]:
    name = draw(st.sampled_from(sorted(RAW_OPS)))
    n = draw(st.integers(0, 10_000))

    def mutate(b: bytes) -> bytes:
        return RAW_OPS[name](b, n)
    mutate.__name__ = f"{name}({n})"
    return mutate


TAR_TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE,
             tarfile.BLKTYPE, b"x", b"g", b"7"]
TAR_NAMES = ["etc/passwd", "bin/sh", "./etc/../etc/passwd", "../escape", "/abs/path", "etc/.wh.passwd",
             "etc/.wh..wh..opq", "a" * 300, "x\udcffy", "bin", "bin/sh/x", "\x1b[31mred", "dir/", ".", "etc"]


@st.composite
def tar_member(draw) -> tarfile.TarInfo:
    info = tarfile.TarInfo(draw(st.sampled_from(TAR_NAMES) | st.text(min_size=1, max_size=20)))
    info.type = draw(st.sampled_from(TAR_TYPES))
    info.linkname = draw(st.sampled_from(TAR_NAMES + ["", "busybox", "/bin/busybox", "../../.."]))
    info.size = draw(st.integers(0, 4096)) if info.type == tarfile.REGTYPE else 0
    info.mtime = draw(st.sampled_from([0, -1, 2**40, 2**63 - 1, 1.5]))
    info.mode = draw(st.sampled_from([0o644, 0o7777, 0o4755, 0]))
    info.uid = draw(st.sampled_from([0, 2**31, 2**62]))
    info.pax_headers = draw(st.sampled_from([{}, {"size": "99999999999999999999999"}, {"path": "../pax-escape"},
                                             {"mtime": "nan"}, {"uid": "²"}, {"linkpath": "x" * 5000},
                                             {"SCHILY.xattr.security.capability": "\x00" * 20}]))
    return info


def header_value() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=80), st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
                     st.sampled_from(HOSTILE_TEXT + ["bytes 0-0/1", "bytes */0", "bytes 5-1/2", "<x>; rel=\"next\"",
                                                     '</v2/repo/tags/list?last=v1>; rel="next"', "gzip", "br",
                                                     'Bearer realm="http://127.0.0.1:1/token"', "Basic",
                                                     "999999999999999999999", "1", "0", "-5"]))


HEADER_NAMES = ["Content-Type", "Docker-Content-Digest", "Link", "Content-Range", "Accept-Ranges", "Content-Encoding",
                "OCI-Filters-Applied", "RateLimit-Limit", "RateLimit-Remaining", "Retry-After", "WWW-Authenticate",
                "Location", "Transfer-Encoding", "Etag"]
KINDS = ["manifest", "blob", "list"]


@st.composite
def plans(draw, *, docs=DOCS, wire: bool = True) -> Plan:
    """A plan breaking one to three documents (JSON or bytes), maybe the layer's tar, maybe the wire."""
    plan = Plan()
    for name in draw(st.lists(st.sampled_from(docs), min_size=1, max_size=3, unique=True)):
        if name == "layer":
            if draw(st.booleans()):
                plan.layer_members = draw(st.lists(tar_member(), min_size=1, max_size=4))
            else:
                plan.raw["layer"] = draw(raw_mutation())
        elif draw(st.integers(0, 3)):
            plan.json[name] = draw(json_mutation())
        else:
            plan.raw[name] = draw(raw_mutation())
    if wire and draw(st.integers(0, 2)) == 0:
        kind = draw(st.sampled_from(KINDS))
        what = draw(st.sampled_from(["header", "header", "status", "length"]))
        if what == "header":
            plan.headers[kind] = [(draw(st.sampled_from(HEADER_NAMES)), draw(header_value()))]
        elif what == "status":
            plan.status[kind] = draw(st.sampled_from([201, 203, 204, 206, 301, 302, 304, 307, 400, 401, 403, 404,
                                                      405, 410, 416, 429, 500, 502]))
        else:
            plan.length[kind] = draw(st.sampled_from(["0", "1", "999999", "-1", "²", "1e3", " 5", "18446744073709551616"]))
    return plan
