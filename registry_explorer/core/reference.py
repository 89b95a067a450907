"""Parse image references. Pure: no I/O.

The grammar is distribution's (https://github.com/distribution/reference/blob/main/reference.go)
with Docker's normalisation (normalize.go): a missing registry means docker.io, one-component
names on docker.io get ``library/``, and the first component is a registry only when it looks
like a host (has a '.' or ':', is 'localhost', or is not lower-case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import InvalidReference

DOCKER_HUB = "docker.io"
# Docker Hub answers the v2 API on this host; `docker.io` itself only redirects to the website.
DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}

# Distribution caps the whole name (registry + path) at 255 characters.
NAME_TOTAL_LIMIT = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST_RE = re.compile(rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?$")
_PATH_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_ALGO_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$")
_HEX_RE = re.compile(r"^[a-f0-9]+$")
_ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")

# Registered algorithms and their encoded lengths (go-digest / OCI image-spec descriptor.md).
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


def validate_digest(digest: str, *, source: str | None = None) -> str:
    """Return `digest` if it is `<algorithm>:<lower-hex of the right length>`, else raise."""
    src = digest if source is None else source
    algo, sep, hexpart = digest.partition(":")
    if not sep or not algo or not hexpart:
        raise InvalidReference(src, f"digest {digest!r} must look like sha256:<64 hex digits>")
    if not _ALGO_RE.match(algo):
        raise InvalidReference(src, f"digest algorithm {algo!r} is malformed")
    if algo not in DIGEST_HEX_LENGTHS:
        raise InvalidReference(
            src, f"digest algorithm {algo!r} is not supported (use one of {', '.join(DIGEST_HEX_LENGTHS)})"
        )
    want = DIGEST_HEX_LENGTHS[algo]
    if not _HEX_RE.match(hexpart):
        raise InvalidReference(src, f"digest {digest!r} must be lower-case hexadecimal after '{algo}:'")
    if len(hexpart) != want:
        raise InvalidReference(src, f"{algo} digest must have {want} hex digits, got {len(hexpart)}")
    return digest


@dataclass(frozen=True)
class Reference:
    """A parsed, normalised image reference: registry, repository, tag and/or digest."""
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What goes after /manifests/: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host:port that serves the v2 API for this registry."""
        return registry_api_host(self.registry)

    def with_digest(self, digest: str) -> Reference:
        """The same repository (and tag) pinned to `digest`."""
        return replace(self, digest=validate_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        """The same repository at `tag`, without a digest."""
        if not _TAG_RE.match(tag):
            raise InvalidReference(tag, "tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
        return replace(self, tag=tag, digest=None)

    def repo(self) -> Reference:
        """The bare repository (no tag, no digest)."""
        return replace(self, tag=None, digest=None)

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from ..html import reference_html  # display hook: html/ imports core.reference (a cycle at import time)

        return reference_html(self)


def registry_api_host(registry: str) -> str:
    """Map a registry name to the host that serves /v2/ (Docker Hub is special)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


def normalize_registry(registry: str) -> str:
    """docker.io aliases collapse to docker.io; other hosts are kept as written (as distribution does)."""
    return DOCKER_HUB if registry.lower() in _DOCKER_HUB_ALIASES else registry


def _looks_like_registry(component: str) -> bool:
    # normalize.go splitDockerDomain: '.' or ':' or localhost or any upper-case letter.
    return "." in component or ":" in component or component == "localhost" or component.lower() != component


def parse_reference(text: str | Reference, *, default_registry: str = DOCKER_HUB) -> Reference:
    """Parse and normalise `text` (e.g. ``alpine:3.20``) into a Reference; raises InvalidReference."""
    if isinstance(text, Reference):
        return text
    if not isinstance(text, str):
        raise InvalidReference(repr(text), f"expected a string, got {type(text).__name__}")
    src = text
    s = text.strip()
    if not s:
        raise InvalidReference(src, "it is empty; expected something like 'alpine:3.20' or 'ghcr.io/org/app@sha256:…'")
    if any(c.isspace() for c in s):
        raise InvalidReference(src, "it contains whitespace")
    if "://" in s:
        raise InvalidReference(src, "drop the URL scheme: write 'registry.example.com/repo:tag', not a URL")

    digest = None
    if "@" in s:
        s, _, digest = s.partition("@")
        if not digest:
            raise InvalidReference(src, "the digest after '@' is empty")
        validate_digest(digest, source=src)
        if not s:
            raise InvalidReference(src, "the repository name before '@' is empty")

    # The tag is after the last ':' that follows the last '/', so host:port is not a tag.
    tag = None
    last_slash = s.rfind("/")
    colon = s.rfind(":")
    if colon > last_slash:
        s, tag = s[:colon], s[colon + 1 :]
        if not tag:
            raise InvalidReference(src, "the tag after ':' is empty")
        if not _TAG_RE.match(tag):
            raise InvalidReference(
                src, f"tag {tag!r} is invalid: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
            )
    if not s:
        raise InvalidReference(src, "the repository name is empty")

    first, slash, rest = s.partition("/")
    if slash and _looks_like_registry(first):
        registry, path = first, rest
        if not _HOST_RE.match(registry):
            raise InvalidReference(src, f"registry {registry!r} is not a valid host[:port]")
        if not path:
            raise InvalidReference(src, f"the repository after registry {registry!r} is empty")
    else:
        registry, path = default_registry, s

    for comp in path.split("/"):
        if not comp:
            raise InvalidReference(src, "the repository has an empty path component ('//' or a trailing '/')")
        if not _PATH_COMPONENT_RE.match(comp):
            if comp.lower() != comp and _PATH_COMPONENT_RE.match(comp.lower()):
                raise InvalidReference(src, f"repository must be lower-case: {comp!r}")
            raise InvalidReference(
                src,
                f"repository component {comp!r} is invalid: use lower-case letters and digits, "
                "separated by '.', '_', '__' or '-'",
            )
    if not slash and _ANCHORED_ID_RE.match(path):
        raise InvalidReference(src, "a 64-hex-digit name is an image ID, not a repository; write repo@sha256:<hex>")

    registry = normalize_registry(registry)
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if len(registry) + 1 + len(path) > NAME_TOTAL_LIMIT:
        raise InvalidReference(src, f"the name is longer than {NAME_TOTAL_LIMIT} characters")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry=registry, repository=path, tag=tag, digest=digest)


def parse_repository(text: str | Reference) -> Reference:
    """Parse a repository (a tag or digest is accepted and dropped)."""
    ref = parse_reference(text)
    return ref.repo()
