"""Split a `docker://` path into registry, repository, image and the path inside the image. Pure: no I/O.

The rule (one reading for every path, so no guessing):

    docker://HOST[:PORT]/REPO/SITORY[:TAG][@DIGEST]/PATH/IN/IMAGE

1. The first component is always the registry (`host`, `host:port`, `[v6]:port`). There is no
   default registry: `docker://alpine:3.20/...` would otherwise read `alpine:3.20` as a host and port.
2. The repository runs up to the first later component that contains ':' or '@'. Repository
   components cannot contain either character (distribution's grammar: `[a-z0-9]` separated by
   `.`, `_`, `__`, `-`), so that component is unambiguously `last-name:tag`, `last-name@digest`
   or `last-name:tag@digest`; it ends the image reference.
3. Everything after it is the path inside the image's merged filesystem (it may contain ':').
4. Without such a component the path names a repository (no tag is implied: `latest` would make
   `host/repo/etc` ambiguous), and with only the first component it names the registry.

So `127.0.0.1:5000/demo/data:1.0/data/t.csv` is registry `127.0.0.1:5000`, repository `demo/data`,
tag `1.0`, file `data/t.csv`; `host/a/b/c` is the repository `a/b/c`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InvalidReference
from ..core.reference import Reference, normalize_registry, parse_reference

PROTOCOL = "docker"
_PREFIX = PROTOCOL + "://"


@dataclass(frozen=True)
class DockerPath:
    """A parsed `docker://` path: registry, then maybe a repository, an image and a path inside it."""

    registry: str
    repository: str = ""
    image: str = ""  # the image component as written ("data:1.0", "hello@sha256:..."), or ""
    inner: str = ""  # the path inside the image, without leading or trailing '/'; "" is its root

    @property
    def reference(self) -> Reference | None:
        """The image reference (None when the path names a registry or a repository)."""
        if not self.image:
            return None
        return parse_reference(self.image_path)

    @property
    def repository_path(self) -> str:
        """`registry/repository` (or `registry` alone)."""
        return f"{self.registry}/{self.repository}" if self.repository else self.registry

    @property
    def image_path(self) -> str:
        """`registry/repo/sitory:tag` as written: the prefix every file of this image shares."""
        head, _, last = self.repository.rpartition("/")
        return "/".join(p for p in (self.registry, head, self.image) if p)

    def child(self, name: str) -> str:
        """The stripped path of an entry `name` inside this image (no protocol)."""
        inner = f"{self.inner}/{name}" if self.inner else name
        return f"{self.image_path}/{inner}".rstrip("/")


def strip(path: str) -> str:
    """The path without `docker://` and without leading or trailing slashes."""
    if path.startswith(_PREFIX):
        path = path[len(_PREFIX):]
    return path.strip("/")


def split(path: str) -> DockerPath:
    """Parse `[docker://]host[:port][/repo[:tag|@digest][/path]]` by the rule in this module's docstring."""
    text = strip(path)
    if not text:
        raise InvalidReference(path, "a docker:// path starts with a registry host, e.g. docker://127.0.0.1:5000/repo:tag/etc")
    parts = text.split("/")
    registry, rest = parts[0], parts[1:]
    repo: list[str] = []
    for i, comp in enumerate(rest):
        if not comp:
            raise InvalidReference(path, "empty path component ('//')")
        if ":" in comp or "@" in comp:
            name = comp.split("@", 1)[0].split(":", 1)[0]
            if not name:
                raise InvalidReference(path, f"{comp!r} has a tag or digest but no repository name before it")
            repository = "/".join([*repo, name])
            dp = DockerPath(registry, repository, comp, "/".join(rest[i + 1:]))
            parse_reference(dp.image_path)  # validates repository, tag and digest at once
            if not _looks_like_host(registry):
                raise InvalidReference(path, f"{registry!r} is not a registry host (host, host:port or localhost)")
            return dp
        repo.append(comp)
    if repo:  # validate a bare repository the same way (with a placeholder tag)
        parse_reference(f"{registry}/{'/'.join(repo)}:latest")
    if not _looks_like_host(registry):
        raise InvalidReference(path, f"{registry!r} is not a registry host")
    return DockerPath(registry, "/".join(repo))


def _looks_like_host(text: str) -> bool:
    # Docker's rule (reference.py): a first component is a registry only if it looks like a host.
    try:
        got = parse_reference(f"{text}/x:latest")
    except InvalidReference:
        return False
    return got.registry == normalize_registry(text)


def unstrip(path: str) -> str:
    """`host/...` -> `docker://host/...`."""
    return path if path.startswith(_PREFIX) else _PREFIX + path
