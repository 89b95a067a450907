"""Plain data: descriptors, manifests, indexes and image configs. No I/O.

Each parsed document keeps its `.raw` bytes beside the parsed fields, because digests are
defined over those bytes (containerd keeps them the same way).
Spec: https://github.com/opencontainers/image-spec (descriptor.md, manifest.md, image-index.md, config.md)
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import jsontext
from . import mediatypes as mt
from .digest import compute, signed_payload
from .errors import InvalidManifest
from .platform import Platform
from .reference import Reference


def _dict(obj: Any) -> dict:
    return dict(obj) if isinstance(obj, dict) else {}


def _text(obj: Any) -> str | None:
    """A non-empty string from a document, else None."""
    return obj if isinstance(obj, str) and obj else None


def _list(obj: Any) -> list:
    # Real manifests carry `"layers": null` (BuildKit FROM scratch); treat null as empty.
    return list(obj) if isinstance(obj, list) else []


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what to fetch (digest, size) and how to read it (media type)."""
    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, obj: Any, *, what: str = "descriptor") -> Descriptor:
        """Parse an OCI descriptor object; raises InvalidManifest when digest or size is missing."""
        if not isinstance(obj, dict):
            raise InvalidManifest(f"{what} is not a JSON object")
        digest, size = obj.get("digest"), obj.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidManifest(f"{what} needs a string 'digest' and a non-negative integer 'size'")
        data = None
        if isinstance(obj.get("data"), str):
            try:
                data = base64.b64decode(obj["data"], validate=True)
            except ValueError:
                raise InvalidManifest(f"{what} has a 'data' field that is not base64") from None
        media_type = obj.get("mediaType")
        return cls(
            media_type=media_type if isinstance(media_type, str) else "",
            digest=digest,
            size=size,
            annotations={str(k): str(v) for k, v in _dict(obj.get("annotations")).items()},
            platform=Platform.from_json(obj.get("platform")),
            urls=tuple(u for u in _list(obj.get("urls")) if isinstance(u, str)),
            artifact_type=obj.get("artifactType") if isinstance(obj.get("artifactType"), str) else None,
            data=data,
        )

    def to_json(self) -> dict[str, Any]:
        """The OCI JSON form."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @property
    def is_attestation(self) -> bool:
        """True for BuildKit attestation entries (`unknown/unknown` pointing at a subject)."""
        return (self.platform is not None and self.platform.is_unknown) or (
            self.annotations.get("vnd.docker.reference.type") == "attestation-manifest"
        )

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from ..html import descriptor_html  # display hook: html/ imports the models (a cycle at import time)

        return descriptor_html(self)


@dataclass(frozen=True)
class _Document:
    raw: bytes = field(repr=False)
    descriptor: Descriptor
    json: dict = field(repr=False, compare=False)
    reference: Reference | None = field(default=None, compare=False)

    @property
    def media_type(self) -> str:
        """The document's media type (from the registry's Content-Type or its own mediaType)."""
        return self.descriptor.media_type

    @property
    def digest(self) -> str:
        """The digest of `.raw`."""
        return self.descriptor.digest

    @property
    def annotations(self) -> dict[str, str]:
        """Top-level annotations."""
        return {str(k): str(v) for k, v in _dict(self.json.get("annotations")).items()}

    @property
    def subject(self) -> Descriptor | None:
        """The OCI 1.1 `subject` this document refers to, if any."""
        s = self.json.get("subject")
        return Descriptor.from_json(s, what="subject") if isinstance(s, dict) else None


@dataclass(frozen=True)
class Manifest(_Document):
    """A single-image manifest (OCI, Docker schema2, or legacy schema1) with its raw bytes."""
    @property
    def config(self) -> Descriptor | None:
        """The config descriptor (None for schema1, which has no config blob)."""
        c = self.json.get("config")
        return Descriptor.from_json(c, what="config descriptor") if isinstance(c, dict) else None

    @property
    def layers(self) -> list[Descriptor]:
        """Layer descriptors, base layer first."""
        if mt.is_schema1(self.media_type):
            # schema1 lists fsLayers top-most first and gives no sizes.
            return [
                Descriptor(mt.DOCKER_LAYER_GZIP, fs["blobSum"], -1)
                for fs in reversed(_list(self.json.get("fsLayers")))
                if isinstance(fs, dict) and isinstance(fs.get("blobSum"), str)
            ]
        return [Descriptor.from_json(x, what=f"layer {i}") for i, x in enumerate(_list(self.json.get("layers")))]

    @property
    def artifact_type(self) -> str | None:
        """`artifactType`, or the config media type for pre-1.1 artifacts (as the spec says)."""
        at = self.json.get("artifactType")
        if isinstance(at, str):
            return at
        cfg = self.config
        if cfg is not None and not mt.is_config(cfg.media_type):
            return cfg.media_type
        return None

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from ..html import manifest_html  # display hook: html/ imports the models (a cycle at import time)

        return manifest_html(self)


@dataclass(frozen=True)
class Index(_Document):
    """An OCI image index or Docker manifest list with its raw bytes."""
    @property
    def manifests(self) -> list[Descriptor]:
        """Child descriptors in document order."""
        return [Descriptor.from_json(x, what=f"manifests[{i}]") for i, x in enumerate(_list(self.json.get("manifests")))]

    @property
    def artifact_type(self) -> str | None:
        """Top-level `artifactType`, if any."""
        at = self.json.get("artifactType")
        return at if isinstance(at, str) else None

    @property
    def platforms(self) -> list[Platform | None]:
        """The platform of each child, in order."""
        return [d.platform for d in self.manifests]

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from ..html import index_html  # display hook: html/ imports the models (a cycle at import time)

        return index_html(self)


def sniff_media_type(doc: dict) -> str:
    """Guess a manifest's media type from its JSON when the registry's Content-Type is unhelpful."""
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mt.DOCKER_SCHEMA1
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc or "layers" in doc:
        return mt.OCI_MANIFEST
    return ""


def parse_manifest(
    raw: bytes, media_type: str | None = None, *, descriptor: Descriptor | None = None, reference: Reference | None = None
) -> Manifest | Index:
    """Parse raw manifest/index bytes; the media type comes from Content-Type, else the JSON.

    A signed schema1 manifest is parsed from its payload only (`digest.signed_payload`), and
    `.raw` is that payload: the bytes its digest covers.
    """
    doc = _json_object(raw)
    media = mt.base(media_type)
    # Registries sometimes send application/json or octet-stream; the document knows better.
    if not (mt.is_index(media) or mt.is_manifest(media)):
        media = sniff_media_type(doc) or media
    if media == mt.DOCKER_SCHEMA1_SIGNED and "signatures" in doc:
        raw = signed_payload(raw)
        doc = _json_object(raw)
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared and mt.base(declared) != media and (mt.is_index(declared) or mt.is_manifest(declared)):
        raise InvalidManifest(f"Content-Type says {media} but the document says mediaType {declared}")
    if descriptor is None:
        descriptor = Descriptor(media, compute(raw), len(raw))
    elif descriptor.media_type != media:
        descriptor = Descriptor(
            media, descriptor.digest, descriptor.size, descriptor.annotations, descriptor.platform,
            descriptor.urls, descriptor.artifact_type,
        )
    cls = Index if mt.is_index(media) else Manifest
    if cls is Manifest and not mt.is_manifest(media) and not ("config" in doc or "layers" in doc):
        raise InvalidManifest(f"unsupported manifest media type {media or '(none)'}")
    return cls(raw=raw, descriptor=descriptor, json=doc, reference=reference)


def _json_object(raw: bytes) -> dict:
    try:
        doc = jsontext.loads(raw)
    except ValueError as exc:
        raise InvalidManifest(f"manifest is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise InvalidManifest("manifest is not a JSON object")
    return doc


@dataclass(frozen=True)
class History:
    """One entry of an image config's history; `empty_layer` entries produced no layer."""
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@dataclass(frozen=True)
class ImageConfig:
    """An image config blob (OCI or Docker) with its raw bytes."""
    raw: bytes = field(repr=False)
    descriptor: Descriptor
    json: dict = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: bytes, descriptor: Descriptor) -> ImageConfig:
        """Parse config bytes that were already verified against `descriptor`."""
        try:
            doc = jsontext.loads(raw)
        except ValueError as exc:
            raise InvalidManifest(f"config {descriptor.digest} is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidManifest(f"config {descriptor.digest} is not a JSON object")
        return cls(raw=raw, descriptor=descriptor, json=doc)

    @property
    def _config(self) -> dict:
        return _dict(self.json.get("config"))

    # A config is the server's JSON: a field of the wrong type (`"User": 5`) reads as absent, so every
    # property has the type it says (tables, Parquet and HTML downstream rely on it).
    os = property(lambda self: _text(self.json.get("os")), doc="Operating system, e.g. 'linux'.")
    architecture = property(lambda self: _text(self.json.get("architecture")), doc="CPU architecture, e.g. 'amd64'.")
    variant = property(lambda self: _text(self.json.get("variant")), doc="CPU variant, e.g. 'v7'.")
    os_version = property(lambda self: _text(self.json.get("os.version")), doc="OS version (Windows).")
    created = property(lambda self: _text(self.json.get("created")), doc="Creation time as written (may be None).")
    author = property(lambda self: _text(self.json.get("author")), doc="Author, if recorded.")

    @property
    def platform(self) -> Platform | None:
        """The platform the config declares."""
        return Platform.from_json(self.json)

    @property
    def env(self) -> list[str]:
        """Environment as `KEY=value` strings."""
        return [str(x) for x in _list(self._config.get("Env"))]

    @property
    def entrypoint(self) -> list[str] | None:
        """Entrypoint argv, or None."""
        e = self._config.get("Entrypoint")
        return [str(x) for x in e] if isinstance(e, list) else None

    @property
    def cmd(self) -> list[str] | None:
        """Cmd argv, or None."""
        c = self._config.get("Cmd")
        return [str(x) for x in c] if isinstance(c, list) else None

    @property
    def working_dir(self) -> str | None:
        """WorkingDir, or None."""
        return _text(self._config.get("WorkingDir"))

    @property
    def user(self) -> str | None:
        """User, or None."""
        return _text(self._config.get("User"))

    @property
    def labels(self) -> dict[str, str]:
        """Labels (empty dict when none)."""
        return {str(k): str(v) for k, v in _dict(self._config.get("Labels")).items()}

    @property
    def exposed_ports(self) -> list[str]:
        """Exposed ports such as '80/tcp'."""
        return sorted(_dict(self._config.get("ExposedPorts")))

    @property
    def volumes(self) -> list[str]:
        """Declared volumes."""
        return sorted(_dict(self._config.get("Volumes")))

    @property
    def diff_ids(self) -> list[str]:
        """Uncompressed layer digests, base first (rootfs.diff_ids; null means none)."""
        return [str(x) for x in _list(_dict(self.json.get("rootfs")).get("diff_ids"))]

    @property
    def history(self) -> list[History]:
        """History entries in order, empty_layer ones included."""
        out = []
        for h in _list(self.json.get("history")):
            if isinstance(h, dict):
                out.append(
                    History(
                        created=_text(h.get("created")),
                        created_by=_text(h.get("created_by")),
                        author=_text(h.get("author")),
                        comment=_text(h.get("comment")),
                        empty_layer=bool(h.get("empty_layer", False)),
                    )
                )
        return out

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from ..html import config_html  # display hook: html/ imports the models (a cycle at import time)

        return config_html(self)
