"""A deterministic registry-sized sample for the census: 44 repositories, 1,100+ tags, a few shared bases.

Pushing a thousand manifests over HTTP costs distribution 2.8 about 4 ms of CPU each, so the
sample is written straight into the registry's filesystem storage (the layout of
registry/storage/paths.go: blobs under `blobs/sha256/<2>/<hex>/data`, per-repository links under
`repositories/<name>/_layers`, `_manifests/revisions` and `_manifests/tags`), as
`push.seed_tags_on_disk` does for tags. The registry reads that layout on every request
(the default config has no cache), so it may be running already or started afterwards.

What it holds (every byte fixed, so digests are the same on every machine):
- three base images (`alpine`, `debian`, `distroless`), one or two layers per architecture,
  shared by every repository built on them;
- per repository, a dependency layer shared by all its versions, and one layer per version;
- `v1.0` ... `v1.23` plus `latest` (= the newest version) in each repository;
- every fourth repository multi-platform (an OCI index of linux/amd64 + linux/arm64); one of
  them nests its index (index -> index without platform -> manifests, as OCI allows);
- every third repository Docker schema2 media types;
- an SPDX SBOM artifact (with `subject`) for every sixth version of every fifth repository, listed
  in the referrers tag-schema index `sha256-<hex>` that oras and regctl maintain.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

from .samples import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    EMPTY_CONFIG,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    SPDX_JSON,
    Blob,
    Entry,
    docker_dumps,
    dumps,
    gzip_bytes,
    make_tar,
    sha256,
)

__all__ = ["CensusSample", "TEAMS", "seed_census_on_disk"]

TEAMS = ("web", "data", "ml", "ops")
REPOS_PER_TEAM = 11
VERSIONS = 24
BASES = {"alpine": 1, "debian": 2, "distroless": 2}  # base name -> layers per architecture
ARCHES = ("amd64", "arm64")
START_DAY = 19723  # 2024-01-01 in days since the epoch: created dates are fixed
DAY = 86400


@dataclass
class CensusSample:
    """What `seed_census_on_disk` wrote: repositories, tag -> digest per repository, referrer subjects."""
    repositories: list[str]
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)  # artifact digest -> subject digest
    nested: str = ""  # the repository whose indexes nest

    @property
    def tag_count(self) -> int:
        """How many tags in all."""
        return sum(len(t) for t in self.tags.values())


class _Store:
    """Writes blobs and links in distribution's filesystem layout (each blob once)."""
    def __init__(self, root: Path):
        self.v2 = Path(root) / "docker" / "registry" / "v2"
        self.written: set[str] = set()
        self.links: set[Path] = set()
        self.dirs: set[Path] = set()  # base layers are linked once per repository, not once per image

    def _write(self, path: Path, data: bytes) -> None:
        if path.parent not in self.dirs:  # mkdir is most of the cost on a busy disk: once per directory
            path.parent.mkdir(parents=True, exist_ok=True)
            self.dirs.add(path.parent)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # the registry may be running: never let it see half a file

    def blob(self, repo: str, b: Blob, *, manifest: bool = False) -> str:
        hexd = b.hex
        if b.digest not in self.written:
            self._write(self.v2 / "blobs" / "sha256" / hexd[:2] / hexd / "data", b.data)
            self.written.add(b.digest)
        kind = ("_manifests", "revisions") if manifest else ("_layers",)
        link = self.v2 / "repositories" / repo / Path(*kind) / "sha256" / hexd / "link"
        if link not in self.links:
            self._write(link, b.digest.encode())
            self.links.add(link)
        return b.digest

    def tag(self, repo: str, tag: str, digest: str) -> None:
        hexd = digest.split(":", 1)[1]
        tags = self.v2 / "repositories" / repo / "_manifests" / "tags" / tag
        self._write(tags / "current" / "link", digest.encode())
        self._write(tags / "index" / "sha256" / hexd / "link", digest.encode())


def _layer(path: str, text: str, media_type: str) -> tuple[Blob, str]:
    raw = make_tar([Entry(path.rsplit("/", 1)[0], "dir"), Entry(path, data=text.encode())])
    return Blob(media_type, gzip_bytes(raw)), sha256(raw)


def _bases(media_type: str) -> dict[tuple[str, str], list[tuple[Blob, str]]]:
    return {(name, arch): [_layer(f"{name}/layer{i}", f"{name} {arch} base layer {i}\n" * 40, media_type)
                           for i in range(n)]
            for name, n in BASES.items() for arch in ARCHES}


def _image(store: _Store, repo: str, layers: list[tuple[Blob, str]], *, arch: str, version: str, day: int,
           docker: bool, team: str) -> Blob:
    """Write one image (config, layers, manifest) into `repo`; returns the manifest blob."""
    created = f"{_date(day)}T12:00:00Z"
    history = [{"created": created, "created_by": f"/bin/sh -c #(nop) ADD layer {i}"} for i in range(len(layers))]
    history.insert(1, {"created": created, "created_by": "/bin/sh -c #(nop) ENV APP_HOME=/app", "empty_layer": True})
    config = {
        "created": created, "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin", f"APP_VERSION={version}"], "Entrypoint": [f"/app/{repo.split('/')[-1]}"],
                   "Cmd": ["--serve"], "User": "app" if hash_int(repo) % 2 else "root", "WorkingDir": "/app",
                   "Labels": {"org.opencontainers.image.version": version, "team": team}},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
        "history": history,
    }
    cfg = Blob(DOCKER_CONFIG if docker else OCI_CONFIG, (docker_dumps if docker else dumps)(config))
    store.blob(repo, cfg)
    for blob, _ in layers:
        store.blob(repo, blob)
    doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
           "config": cfg.descriptor(), "layers": [b.descriptor() for b, _ in layers]}
    m = Blob(doc["mediaType"], (docker_dumps if docker else dumps)(doc))
    store.blob(repo, m, manifest=True)
    return m


def hash_int(text: str) -> int:
    """A stable small integer from text (Python's hash() is salted per process)."""
    return int(sha256(text.encode())[7:15], 16)


def _date(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=START_DAY + day)).isoformat()


def _index(store: _Store, repo: str, children: list[tuple[Blob, dict | None]], created: str) -> Blob:
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX,
           "manifests": [b.descriptor(**({"platform": p} if p else {})) for b, p in children],
           "annotations": {"org.opencontainers.image.created": created}}
    idx = Blob(OCI_INDEX, dumps(doc))
    store.blob(repo, idx, manifest=True)
    return idx


def _sbom(store: _Store, repo: str, subject: Blob, version: str, created: str) -> Blob:
    layer = Blob(SPDX_JSON, dumps({"spdxVersion": "SPDX-2.3", "name": f"{repo}:{version}", "packages": []}))
    store.blob(repo, EMPTY_CONFIG)
    store.blob(repo, layer)
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SPDX_JSON,
           "config": EMPTY_CONFIG.descriptor(), "layers": [layer.descriptor()],
           "subject": subject.descriptor(), "annotations": {"org.opencontainers.image.created": created}}
    art = Blob(OCI_MANIFEST, dumps(doc))
    store.blob(repo, art, manifest=True)
    return art


def seed_census_on_disk(storage_root: str | os.PathLike, *, teams: tuple[str, ...] = TEAMS,
                        repos_per_team: int = REPOS_PER_TEAM, versions: int = VERSIONS) -> CensusSample:
    """Write the census sample into a filesystem registry's storage root; returns what it wrote."""
    store = _Store(Path(storage_root))
    bases = {False: _bases(OCI_LAYER_GZIP), True: _bases(DOCKER_LAYER_GZIP)}
    sample = CensusSample(repositories=[])
    n = 0
    for team in teams:
        for k in range(repos_per_team):
            repo = f"{team}/app-{k:02d}"
            sample.repositories.append(repo)
            docker = n % 3 == 2
            multi = n % 4 == 0
            nested = multi and not sample.nested
            if nested:
                sample.nested = repo
            base = list(BASES)[n % len(BASES)]
            mtype = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
            deps = {a: _layer("app/deps.txt", f"{repo} {a} dependencies\n" * 20, mtype) for a in ARCHES}
            tags: dict[str, str] = {}
            for v in range(versions):
                version = f"v1.{v}"
                day = n + 7 * v
                created = f"{_date(day)}T12:00:00Z"
                images = []
                for arch in ARCHES if multi else ARCHES[:1]:
                    own = _layer("app/version.txt", f"{repo} {version} {arch}\n", mtype)
                    layers = bases[docker][(base, arch)] + [deps[arch], own]
                    m = _image(store, repo, layers, arch=arch, version=version, day=day, docker=docker, team=team)
                    images.append((m, {"architecture": arch, "os": "linux"}))
                if multi:
                    root = _index(store, repo, images, created)
                    if nested:  # OCI allows an index entry that is an index with no platform
                        root = _index(store, repo, [(root, None)], created)
                else:
                    root = images[0][0]
                tags[version] = root.digest
                store.tag(repo, version, root.digest)
                if n % 5 == 0 and v % 6 == 0:
                    art = _sbom(store, repo, root, version, created)
                    sample.subjects[art.digest] = root.digest
                    referrers = Blob(OCI_INDEX, dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                        art.descriptor(artifactType=SPDX_JSON,
                                       annotations={"org.opencontainers.image.created": created})]}))
                    store.blob(repo, referrers, manifest=True)
                    schema_tag = root.digest.replace(":", "-", 1)
                    tags[schema_tag] = referrers.digest
                    store.tag(repo, schema_tag, referrers.digest)
            tags["latest"] = tags[f"v1.{versions - 1}"]
            store.tag(repo, "latest", tags["latest"])
            sample.tags[repo] = tags
            n += 1
    return sample
