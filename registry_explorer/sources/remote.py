"""The client: resolve a name to a descriptor, then fetch everything else by descriptor.

Modelled on containerd's remotes: resolving a tag is the only step that trusts the registry;
every manifest, config and blob fetched afterwards is checked against the size and digest
of the descriptor that named it. https://github.com/containerd/containerd/tree/main/core/remotes/docker
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from ..core import mediatypes as mt
from ..core.digest import manifest_digest
from ..core.errors import (
    ConnectionFailed,
    DigestMismatch,
    InvalidReference,
    ManifestTooLarge,
    RangeRefused,
    SizeMismatch,
)
from ..core.limits import MANIFEST_LIMIT, PAGE_SIZE
from ..core.models import Descriptor, Index, Manifest, parse_manifest
from ..core.platform import Platform
from ..core.reference import Reference, normalize_registry, parse_reference, validate_digest
from ..http.credentials import CredentialStore
from ..http.pagination import names, referrers, referrers_api
from ..http.response import Response
from ..http.retry import RetryPolicy, as_policy
from ..http.trace import TRACE_LIMIT, Trace
from ..http.transport import DEFAULT_DEADLINE, Transport
from ..http.values import content_range, header_int
from .common import DEFAULT_WORKERS, ProgressCallback, SourceBase
from .layout import copy_into_layout
from .manifest_cache import ManifestCache
from .protocol import SourceSettings


def _scope(ref: Reference, actions: str = "pull") -> str:
    return f"repository:{ref.repository}:{actions}"


class Client(SourceBase):
    """A registry client: resolve references, fetch verified manifests, configs and blobs, list tags."""
    _caches_documents = True  # configs by digest are immutable: served from self.cache when set

    def __init__(
        self,
        credentials: dict | None = None,
        docker_config: str | os.PathLike | dict | None = None,
        insecure: Sequence[str] = (),
        ca_bundle: str | None = None,
        timeout: float | tuple[float, float] = 30.0,
        *,
        retries: int | RetryPolicy = 3,
        allow_private_redirects: bool = False,
        session=None,
        workers: int = DEFAULT_WORKERS,
        trace_limit: int = TRACE_LIMIT,
        deadline: float | None = DEFAULT_DEADLINE,
        cache=True,
    ):
        if isinstance(insecure, str):
            insecure = (insecure,)
        self.credentials = CredentialStore(credentials, docker_config)
        self.transport = Transport(
            self.credentials, insecure=insecure, ca_bundle=ca_bundle, timeout=timeout, session=session,
            trace_limit=trace_limit, retries=retries, allow_private_redirects=allow_private_redirects,
            deadline=deadline,
        )
        self.workers = workers
        # On-disk content-addressed cache (rx.Cache) for documents fetched by digest and layer
        # indexes (issue 12): by default under $XDG_CACHE_HOME/registry-explorer; cache=False
        # keeps everything in memory for this client only (see cache.as_cache).
        self._init_source(cache)
        self._manifests = ManifestCache(self.cache, self.trace)

    def parse(self, text: str | Reference) -> Reference:
        """Parse a registry reference (what this source's methods accept)."""
        return parse_reference(text)

    def locate(self, registry: str | None, repository: str, tag: str | None = None) -> Reference:
        """`registry/repository[:tag]` as a Reference."""
        if not registry:
            raise ValueError("a registry host is needed, such as '127.0.0.1:5000' or 'ghcr.io'")
        return parse_reference(f"{registry}/{repository}" + (f":{tag}" if tag else ""))

    def settings(self, *, docker_config=None, credential_provider: str | None = None) -> SourceSettings:
        """How a worker rebuilds this client: its transport flags, never a secret (see sources/rebuild.py)."""
        if docker_config is not None and not isinstance(docker_config, (str, os.PathLike)):
            # A config given as a mapping holds the secrets themselves: they would travel in every pickle.
            raise ValueError("docker_config for workers must be a path each worker reads (or use "
                             "credential_provider='module:function'), not a mapping of credentials")
        t = self.transport
        return SourceSettings(
            insecure=tuple(sorted(t.insecure)), ca_bundle=t.ca_bundle, timeout=tuple(t.timeout),
            retries=t.retry.retries, deadline=self.deadline,
            docker_config=str(docker_config) if docker_config else None, credential_provider=credential_provider,
            cache=str(self.cache.path) if self.cache is not None else None)

    @property
    def trace(self) -> Trace:
        """Every HTTP exchange this client made (the latest `trace_limit`), redacted."""
        return self.transport.trace

    @property
    def deadline(self) -> float | None:
        """Seconds allowed to read one whole document (manifest, config, token, list page)."""
        return self.transport.wire.deadline

    @property
    def rate_limit(self) -> dict | None:
        """The latest RateLimit-Limit/Remaining the registry sent (Docker Hub), or None."""
        return self.transport.rate_limit

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force (set with `retries=` or `client.retry = RetryPolicy(...)`)."""
        return self.transport.retry

    @retry.setter
    def retry(self, policy: int | RetryPolicy) -> None:
        self.transport.retry = as_policy(policy)

    def __repr__(self) -> str:
        return f"Client(insecure={sorted(self.transport.insecure)}, credentials={self.credentials!r})"

    # -- manifests ---------------------------------------------------------------------------

    def resolve(self, ref: str | Reference) -> Descriptor:
        """Resolve a reference to the descriptor of its manifest or index (HEAD, GET fallback)."""
        ref = parse_reference(ref)
        resp = self.transport.request(
            "HEAD", ref.registry, f"/v2/{ref.repository}/manifests/{ref.identifier}", scope=_scope(ref),
            headers={"Accept": ", ".join(mt.MANIFEST_ACCEPT)}, purpose="resolve", ok=(405,),
        )
        resp.close()
        digest = resp.headers.get("Docker-Content-Digest")
        length = header_int(resp.headers.get("Content-Length"), what="Content-Length")
        ctype = mt.base(resp.headers.get("Content-Type"))
        usable = resp.status == 200 and digest and length is not None and _valid_digest(digest)
        if usable and length <= MANIFEST_LIMIT and (mt.is_index(ctype) or mt.is_manifest(ctype)):
            desc = Descriptor(ctype, digest, length)
            if ref.digest and desc.digest != ref.digest:
                raise DigestMismatch(ref.digest, desc.digest, what=f"manifest {ref}")
            return desc
        # HEAD was refused (405) or lacks the digest or length: GET and hash locally, as containerd does.
        return self._get_manifest(ref, ref.identifier, None, purpose="resolve").descriptor

    def manifest(self, ref: str | Reference, descriptor: Descriptor | None = None) -> Manifest | Index:
        """Fetch the manifest or index `ref` names (or `descriptor`, within ref's repository), verified."""
        ref = parse_reference(ref)
        if descriptor is not None:
            return self._get_manifest(ref, descriptor.digest, descriptor, purpose="manifest")
        return self._get_manifest(ref, ref.identifier, None, purpose="manifest")

    def _get_manifest(self, ref: Reference, identifier: str, expected: Descriptor | None, *, purpose: str):
        if expected is not None and expected.size > MANIFEST_LIMIT:
            raise ManifestTooLarge(f"manifest {expected.digest}", MANIFEST_LIMIT, expected.size)
        want = expected.digest if expected else (ref.digest if identifier == ref.digest else None)
        if want:
            cached = self._manifests.get(want)
            if cached is not None:
                raw, ctype = cached
                # A cache hit must satisfy the descriptor exactly as a fetch would (digest and size).
                if expected is not None and expected.size != len(raw):
                    raise SizeMismatch(expected.size, len(raw), what=f"manifest {want} (cached)")
                desc = expected or Descriptor(ctype, want, len(raw))
                return parse_manifest(raw, ctype, descriptor=_with_type(desc, ctype), reference=ref.with_digest(want))
        resp = self.transport.request(
            "GET", ref.registry, f"/v2/{ref.repository}/manifests/{identifier}", scope=_scope(ref),
            headers={"Accept": ", ".join(mt.MANIFEST_ACCEPT)}, stream=True, purpose=purpose,
        )
        ctype = mt.base(resp.headers.get("Content-Type"))
        header_digest = resp.headers.get("Docker-Content-Digest")
        raw = resp.read_all(MANIFEST_LIMIT, f"manifest {ref.name}@{identifier}", error=ManifestTooLarge)
        what = f"manifest {ref.name}@{identifier}"
        if want:
            if expected is not None and expected.size != len(raw):
                raise SizeMismatch(expected.size, len(raw), what=what)
            actual = manifest_digest(raw, ctype, want.split(":", 1)[0])
            if actual != want:
                raise DigestMismatch(want, actual, what=what)
            digest = want
        else:
            # By tag: nothing to check against except the registry's own header, if it sent one.
            algo = header_digest.split(":", 1)[0] if header_digest and _valid_digest(header_digest) else "sha256"
            digest = manifest_digest(raw, ctype, algo)
            if header_digest and _valid_digest(header_digest) and header_digest != digest:
                raise DigestMismatch(header_digest, digest, what=what)
        desc = _with_type(expected, ctype) if expected else Descriptor(ctype, digest, len(raw))
        parsed = parse_manifest(raw, ctype, descriptor=desc, reference=ref.with_digest(digest))
        self._manifests.put(digest, raw, parsed.media_type)
        return parsed

    # -- blobs -----------------------------------------------------------------------------------

    def _blob_response(self, ref: Reference, descriptor: Descriptor, headers=None, ok=()) -> Response:
        validate_digest(descriptor.digest)
        return self.transport.request(
            "GET", ref.registry, f"/v2/{ref.repository}/blobs/{descriptor.digest}", scope=_scope(ref),
            stream=True, purpose="config" if mt.is_config(descriptor.media_type) else "blob", headers=headers, ok=ok,
        )

    @contextlib.contextmanager
    def raw_blob(self, ref, descriptor: Descriptor, offset: int = 0) -> Iterator[Response]:
        """The unverified blob body from `offset`; Source.open_blob and fetch_blobs verify it.

        With an offset, asks for `Range: bytes=<offset>-` and checks the 206's Content-Range; a
        server that ignores Range answers 200 with everything, and `.start` is then 0.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else None
        resp = self._blob_response(parse_reference(ref), descriptor, headers=headers, ok=(416,))
        try:
            resp.start = _blob_start(resp, descriptor, offset)  # where in the blob this body begins
            yield resp
        finally:
            resp.close()

    def read_range(self, ref, descriptor: Descriptor, start: int, end: int) -> bytes:
        """Exactly bytes [start, end) of a blob by one Range request, unverified; RangeRefused (noted in the trace) else.

        The bytes are checked by the caller against digests from verified data (peek/ranged.py);
        a registry that ignores Range (200), refuses it (416) or answers another range is refused
        here, and the caller falls back to one verified stream of the whole blob.
        """
        if isinstance(start, bool) or isinstance(end, bool) or not 0 <= start < end:
            raise ValueError(f"a byte range needs 0 <= start < end, not {start}..{end}")
        resp = self._blob_response(parse_reference(ref), descriptor, headers={"Range": f"bytes={start}-{end - 1}"},
                                   ok=(416,))
        try:
            data, reason = _ranged_body(resp, descriptor, start, end)
        finally:
            resp.close()
        if reason is not None:
            if resp.exchange is not None:
                resp.exchange.note = "range fallback: " + reason + "; streaming the verified layer instead"
            raise RangeRefused(reason)
        return data

    # -- offline copies --------------------------------------------------------------------------

    def save_layout(self, ref: str | Reference, path: str | os.PathLike, platform: str | Platform | None = None,
                    *, tag: str | None = None, progress: ProgressCallback | None = None):
        """Copy an image (or, without `platform`, a whole index) into an OCI layout directory.

        Manifests are stored verbatim, so digests are preserved: OCI content comes out byte for
        byte as `skopeo copy [--all] docker://... oci:PATH:TAG` writes it; Docker-typed manifests
        stay Docker-typed (skopeo would convert them to OCI, changing their digests). Blobs land
        before manifests and index.json is updated last, so an interrupted copy is never listed.
        Every digest is validated before anything touches the filesystem: they become file names.
        """

        ref = parse_reference(ref)
        root = self.manifest(ref)
        if platform is not None and isinstance(root, Index):
            root = self.image(ref, platform)
        return copy_into_layout(self, ref, root, Path(path), tag if tag is not None else ref.tag, progress)

    # -- referrers -------------------------------------------------------------------------------

    def referrers(self, ref: str | Reference, *, artifact_type: str | None = None) -> list[Descriptor]:
        """Descriptors of manifests whose `subject` is `ref` (resolved to a digest first).

        Uses the OCI 1.1 referrers API; where the registry lacks it (404, as distribution 2.8
        does), falls back to the referrers tag schema `<alg>-<hex>` that pushing clients such as
        oras and regctl maintain. https://github.com/opencontainers/distribution-spec/blob/main/spec.md#listing-referrers
        """

        ref = parse_reference(ref)
        return referrers(self, ref, ref.digest or self.resolve(ref).digest, artifact_type)

    def has_referrers_api(self, ref: str | Reference, digest: str) -> bool:
        """One GET of the referrers endpoint: 404 means the registry lacks the API (distribution 2.8)."""
        return referrers_api(self.transport, parse_reference(ref), validate_digest(digest))

    # -- listings ------------------------------------------------------------------------------

    def tags(self, repo_or_ref: str | Reference, *, page_size: int = PAGE_SIZE) -> list[str]:
        """All tags of a repository, following `Link: <...>; rel="next"` pagination."""
        ref = parse_reference(repo_or_ref)
        return names(self.transport, ref.registry, f"/v2/{ref.repository}/tags/list", _scope(ref), "tags", page_size)

    def catalog(self, registry: str | Reference, *, page_size: int = PAGE_SIZE) -> list[str]:
        """All repositories the registry lists in /v2/_catalog, following pagination."""
        reg = _registry_host(registry)
        return names(self.transport, reg, "/v2/_catalog", "registry:catalog:*", "repositories", page_size)


def _registry_host(registry) -> str:
    """The `host[:port]` that `catalog()` was given as a host, a URL or a Reference."""
    if registry is None:
        raise ValueError("a registry host is needed, such as '127.0.0.1:5000' or 'ghcr.io'")
    if isinstance(registry, Reference):
        return registry.registry
    reg = str(registry).strip().rstrip("/")
    if "://" in reg:
        reg = urlsplit(reg).netloc
    if not reg or "/" in reg:
        raise InvalidReference(str(registry), "catalog() takes a registry host such as 'ghcr.io' or '127.0.0.1:5000'")
    return normalize_registry(reg)


def _ranged_body(resp: Response, descriptor: Descriptor, start: int, end: int) -> tuple[bytes, str | None]:
    """(body, None) when `resp` holds exactly bytes [start, end) of the blob, else (b"", why not)."""
    parsed = content_range(resp.headers.get("Content-Range")) if resp.status == 206 else None
    if resp.status == 200:
        return b"", "the registry ignored Range (200 with the whole blob)"
    if resp.status == 416:
        return b"", "the registry refused the Range (416)"
    if parsed is None or parsed[0] != start or parsed[1] != end - 1 \
            or (parsed[2] is not None and parsed[2] != descriptor.size):
        return b"", f"Content-Range {resp.headers.get('Content-Range')!r} is not bytes {start}-{end - 1}/{descriptor.size}"
    data = resp.read_all(end - start, f"range of blob {descriptor.digest}")
    if len(data) != end - start:
        return b"", f"the 206 body has {len(data)} bytes, not {end - start}"
    return data, None


def _blob_start(resp: Response, descriptor: Descriptor, offset: int) -> int:
    """Check a blob answer against the descriptor and the Range asked for; where its body starts.

    A server that ignores Range answers 200 with everything (start 0); one that honours it
    answers 206 with a Content-Range that must start at `offset` and total the descriptor's size.
    """
    what = f"blob {descriptor.digest}"
    if resp.status == 416:  # we asked for bytes past the end: the blob is shorter
        raise SizeMismatch(descriptor.size, offset, what=what + " (the registry has fewer bytes)")
    length = header_int(resp.headers.get("Content-Length"), what="Content-Length")
    if resp.status == 200 and length is not None and descriptor.size >= 0 and length != descriptor.size:
        raise SizeMismatch(descriptor.size, length, what=what)
    if not (offset and resp.status == 206):
        return 0
    cr = resp.headers.get("Content-Range")
    parsed = content_range(cr)
    total = parsed[2] if parsed else None
    if total is not None and descriptor.size >= 0 and total != descriptor.size:
        raise SizeMismatch(descriptor.size, total, what=what)
    if parsed is None or parsed[0] != offset:
        raise ConnectionFailed(f"registry answered Range bytes={offset}- with Content-Range {cr!r}", kind="range")
    return offset


def _valid_digest(d: str) -> bool:
    try:
        validate_digest(d)
        return True
    except InvalidReference:
        return False


def _with_type(desc: Descriptor, media_type: str) -> Descriptor:
    if desc.media_type == media_type or not media_type:
        return desc
    return Descriptor(media_type, desc.digest, desc.size, desc.annotations, desc.platform, desc.urls,
                      desc.artifact_type, desc.data)
