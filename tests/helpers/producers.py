"""Run real image producers (buildah, podman, skopeo, umoci, containerd's ctr and ctr-remote) against a test
registry, and check that what they pushed is what was asked for.

The blob-info-cache trap: containers/image (buildah, podman, skopeo) keeps a cache of "this uncompressed
layer is also known as that compressed blob, in that repository" under /var/lib/containers/cache (as
root; there is no flag to move it), and together with blobs already in the destination repository it
can push the *old gzip* layer when zstd is asked for. So every containers/image command runs in a
private mount namespace whose /etc, /run, /var/lib and /var/tmp are fresh overlays over the host's
(nothing the tool writes there reaches the host, and it sees no cache from an earlier command), with its
storage, auth file and temp directory in the producer's own work dir; every image goes to a repository of
its own; and `check_pushed` reads each pushed layer back: media type, first bytes and annotations.

Records (`Pushed`, `PushedIndex`, `Layout`) hold what a test needs: the reference and digests, and the
`ImageInput` the tool was given (producers_content). Builders are in producers_containers and
producers_containerd; session fixtures and the between-sessions cache in producer_fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from helpers.producers_content import ImageInput, image_input
from registry_explorer.sandbox.registry import RunningRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = OCI_TAR + "+gzip"
OCI_ZSTD = OCI_TAR + "+zstd"
ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST))

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
STARGZ_TOC = "containerd.io/snapshot/stargz/toc.digest"
# zstd:chunked names its TOC by these annotations; containers/storage renamed the prefix
# (pkg/chunked/internal: io.containers.zstd-chunked. -> io.github.containers.zstd-chunked.).
ZSTD_CHUNKED_PREFIXES = ("io.github.containers.zstd-chunked.", "io.containers.zstd-chunked.")

# variant -> (layer media type, first bytes of the blob (None: a tar header), annotation it must carry)
COMPRESSION = {
    "gzip": (OCI_GZIP, GZIP_MAGIC, None),
    "estargz": (OCI_GZIP, GZIP_MAGIC, STARGZ_TOC),
    "zstd": (OCI_ZSTD, ZSTD_MAGIC, None),
    "zstd:chunked": (OCI_ZSTD, ZSTD_MAGIC, "manifest-position"),
    "none": (OCI_TAR, None, None),
}


class ProducerUnavailable(Exception):
    """A tool or privilege the producers need is missing (outside CI the fixtures skip; in CI they fail)."""


class ProducerError(Exception):
    """A tool failed, or pushed something other than what it was asked for."""


# --- records ---------------------------------------------------------------------------------------


@dataclass
class Pushed:
    """One image a tool pushed: where it is, what the manifest says, and what the tool was given."""
    name: str  # key in the producer set ("buildah-zstd")
    tool: str  # the writer of the layers ("buildah", "ctr-remote", ...)
    variant: str  # a key of COMPRESSION
    repository: str
    tag: str
    digest: str  # of the manifest, as the registry serves it
    layer_digests: tuple[str, ...]
    input_name: str  # producers_content.IMAGES key
    host: str = ""  # "127.0.0.1:PORT" of the registry it lives in (set when loaded)
    # entries the tool adds to each layer on its own (eStargz's TOC and landmark file)
    format_entries: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        sep = "@" if self.tag.startswith("sha256:") else ":"  # a platform's manifest in a list has no tag
        return f"{self.host}/{self.repository}{sep}{self.tag}"

    @property
    def input(self) -> ImageInput:
        return image_input(self.input_name)

    @property
    def layer_media_types(self) -> tuple[str, ...]:
        return (COMPRESSION[self.variant][0],) * len(self.input.layers)

    @property
    def layers(self):
        """One LayerInput per layer, bottom first: the entries, removals and opaque dirs it was given."""
        return self.input.layers

    @property
    def files(self):
        """path -> Entry: what a reader of the final image should see (whiteouts applied)."""
        return self.input.files

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "host"}


@dataclass
class PushedIndex:
    """A multi-arch list: its own digest and media type, and one `Pushed` per platform ("linux/arm64")."""
    name: str
    tool: str
    repository: str
    tag: str
    digest: str
    media_type: str
    platforms: dict[str, Pushed] = field(default_factory=dict)
    host: str = ""

    @property
    def reference(self) -> str:
        return f"{self.host}/{self.repository}:{self.tag}"

    def to_json(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("host", "platforms")}
        return {**d, "platforms": {p: r.to_json() for p, r in self.platforms.items()}}


@dataclass
class Layout:
    """An OCI image layout on disk written by a tool (`path` is this session's own copy)."""
    name: str
    tool: str
    variant: str
    path: Path
    tag: str
    digest: str  # the manifest the tag names in index.json
    layer_digests: tuple[str, ...]
    input_name: str

    @property
    def input(self) -> ImageInput:
        return image_input(self.input_name)

    @property
    def files(self):
        return self.input.files

    @property
    def layer_media_types(self) -> tuple[str, ...]:
        return (COMPRESSION[self.variant][0],) * len(self.input.layers)

    def blob(self, digest: str) -> Path:
        algo, hexdigest = digest.split(":", 1)
        return self.path / "blobs" / algo / hexdigest

    def to_json(self, base: Path) -> dict:
        return {**self.__dict__, "path": str(self.path.relative_to(base))}


def record_from_json(d: dict, host: str, base: Path) -> Pushed | PushedIndex | Layout:
    if "platforms" in d:
        plats = {p: record_from_json(r, host, base) for p, r in d["platforms"].items()}
        return PushedIndex(**{**d, "platforms": plats, "host": host})
    if "path" in d:
        return Layout(**{**d, "path": base / d["path"], "layer_digests": tuple(d["layer_digests"])})
    return Pushed(**{**d, "host": host, "layer_digests": tuple(d["layer_digests"]),
                     "format_entries": tuple(d["format_entries"])})


# --- running tools ---------------------------------------------------------------------------------


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        raise ProducerUnavailable(f"not installed: {', '.join(missing)} (scripts/system-deps.sh installs them)")


# Overlays over the host's directories that containers/image, containers/storage, podman and buildah
# write to on their own as root: the blob-info cache (/var/lib/containers/cache), podman's /run/libpod,
# buildah's /etc/cni/net.d/cni.lock, big temp files in /var/tmp. `mount -n` keeps /run/mount/utab
# untouched. The namespace (and with it every overlay) ends with the command.
_ISOLATE = """set -e
t=$1; shift
for d in /etc /run /var/lib /var/tmp; do
  n=$t/$(echo "$d" | tr / _)
  mkdir -p "$n/u" "$n/w"
  mount -n -t overlay rx-producer -o "lowerdir=$d,upperdir=$n/u,workdir=$n/w" "$d"
done
exec "$@"
"""


_SECRET_FLAGS = ("--creds", "--dest-creds", "--src-creds", "--user")


def shown_argv(argv: list[str]) -> str:
    """A command line for a log or an error, the value after a credentials flag redacted."""
    return " ".join("<redacted>" if i and argv[i - 1] in _SECRET_FLAGS else a for i, a in enumerate(argv))


class ToolBox:
    """Where one producer works: its storage, auth file, temp dir and configuration, all under `workdir`."""

    def __init__(self, workdir: Path, *, driver: str = "vfs", runroot: Path | None = None):
        if os.geteuid() != 0:
            raise ProducerUnavailable("the producers run as root (a private mount namespace hides "
                                      "/var/lib/containers/cache); run the tests as root")
        require_tools("unshare", "mount")
        self.workdir = Path(workdir)
        self.driver = driver
        self.root, self.runroot = self.workdir / "storage", Path(runroot or self.workdir / "runroot")
        self.certs = self.workdir / "certs"
        for d in ("storage", "tmp", "home", "config", "ns", "certs"):
            (self.workdir / d).mkdir(parents=True, exist_ok=True)
        self.runroot.mkdir(parents=True, exist_ok=True)
        (self.workdir / "storage.conf").write_text(
            f'[storage]\ndriver = "{driver}"\ngraphroot = "{self.root}"\nrunroot = "{self.runroot}"\n')
        (self.workdir / "containers.conf").write_text(
            f'[engine]\nevents_logger = "none"\ntmp_dir = "{self.workdir / "tmp"}"\n')
        (self.workdir / "auth.json").write_text('{"auths": {}}\n')
        self.log = self.workdir / "commands.log"
        self._count = 0

    @property
    def storage_flags(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", self.driver]

    @property
    def storage_ref(self) -> str:
        """containers-storage transport prefix naming this store (skopeo reads buildah's images by it)."""
        return f"containers-storage:[{self.driver}@{self.root}+{self.runroot}]"

    def env(self) -> dict[str, str]:
        drop = ("CONTAINERS_", "BUILDAH_", "REGISTRY_AUTH", "STORAGE_", "XDG_", "DOCKER_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        w = self.workdir
        env.update(CONTAINERS_STORAGE_CONF=str(w / "storage.conf"), CONTAINERS_CONF=str(w / "containers.conf"),
                   REGISTRY_AUTH_FILE=str(w / "auth.json"), TMPDIR=str(w / "tmp"), HOME=str(w / "home"),
                   XDG_CONFIG_HOME=str(w / "config"), BUILDAH_ISOLATION="chroot")
        return env

    def run(self, *argv: str | Path, isolate: bool = True, timeout: float = 300) -> str:
        """Run a tool (in a fresh private namespace unless isolate=False); its stdout, or ProducerError."""
        argv = tool_argv = [str(a) for a in argv]
        if isolate:
            self._count += 1
            ns = self.workdir / "ns" / str(self._count)
            argv = ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", _ISOLATE, "sh", str(ns), *argv]
        t0 = time.monotonic()
        proc = subprocess.run(argv, env=self.env(), cwd=self.workdir, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        with open(self.log, "a") as log:
            log.write(f"$ {shown_argv(tool_argv)}\n  rc={proc.returncode} {time.monotonic() - t0:.2f}s\n{proc.stderr[-2000:]}\n")
        if proc.returncode != 0:
            raise ProducerError(f"{tool_argv[0]} failed (rc={proc.returncode}): {shown_argv(tool_argv)}\n{proc.stderr[-3000:]}")
        return proc.stdout

    def registry_flags(self, reg: RunningRegistry, prefix: str = "") -> list[str]:
        """TLS and credential flags of buildah/podman (prefix "") and skopeo (prefix "dest-" / "src-")."""
        if reg.scheme == "http":
            flags = [f"--{prefix}tls-verify=false"]
        else:
            d = self.certs / reg.host.replace(":", "_")
            d.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(reg.ca_file, d / "ca.crt")  # containers/image reads *.crt from a cert dir
            flags = [f"--{prefix}cert-dir", str(d)]
        if reg.auth:
            flags += [f"--{prefix}creds", ":".join(reg.auth)]
        return flags


# --- reading back what was pushed ------------------------------------------------------------------


def _session(reg: RunningRegistry) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE and proxies must not apply to the test registry
    s.verify = reg.verify
    if reg.auth and reg.flavour != "token":
        s.auth = reg.auth
    return s


def manifest_bytes(reg: RunningRegistry, repository: str, reference: str) -> tuple[bytes, str]:
    """The exact bytes and Content-Type the registry serves for a manifest."""
    with _session(reg) as s:
        r = s.get(f"{reg.url}/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}, timeout=30)
    if r.status_code != 200:
        raise ProducerError(f"GET manifest {repository}:{reference}: HTTP {r.status_code} {r.text[:200]}")
    return r.content, r.headers.get("Content-Type", "")


def blob_head(reg: RunningRegistry, repository: str, digest: str, n: int = 512) -> bytes:
    """The first `n` bytes of a blob (by Range)."""
    with _session(reg) as s:
        r = s.get(f"{reg.url}/v2/{repository}/blobs/{digest}", headers={"Range": f"bytes=0-{n - 1}"}, timeout=30)
    if r.status_code not in (200, 206):
        raise ProducerError(f"GET blob {repository}@{digest}: HTTP {r.status_code}")
    return r.content[:n]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_layer(variant: str, desc: dict, head: bytes, where: str) -> None:
    """Raise ProducerError unless a layer descriptor and its first bytes are the compression asked for."""
    media_type, magic, annotation = COMPRESSION[variant]
    notes = desc.get("annotations") or {}
    problems = []
    if desc.get("mediaType") != media_type:
        problems.append(f"media type {desc.get('mediaType')!r}, expected {media_type!r}")
    if magic is not None and not head.startswith(magic):
        problems.append(f"first bytes {head[:4].hex()}, expected {magic.hex()}")
    if magic is None and (len(head) < 262 or head[257:262] != b"ustar"):
        problems.append(f"not an uncompressed tar (first bytes {head[:4].hex()})")
    chunked = any(k.startswith(p) and k.endswith("manifest-position") for k in notes for p in ZSTD_CHUNKED_PREFIXES)
    if annotation == STARGZ_TOC and STARGZ_TOC not in notes:
        problems.append(f"no {STARGZ_TOC} annotation")
    if annotation == "manifest-position" and not chunked:
        problems.append("no zstd-chunked manifest-position annotation")
    if variant in ("gzip", "zstd") and (STARGZ_TOC in notes or chunked):
        problems.append(f"annotations of a chunked format on a plain {variant} layer: {sorted(notes)}")
    if problems:
        raise ProducerError(f"{where}: asked for {variant}, got: " + "; ".join(problems))


def check_pushed(reg: RunningRegistry, rec: Pushed) -> dict:
    """Read an image back from the registry; raise ProducerError unless it is what `rec` claims. The manifest."""
    raw, _ = manifest_bytes(reg, rec.repository, rec.tag)
    if sha256(raw) != rec.digest:
        raise ProducerError(f"{rec.reference}: manifest digest {sha256(raw)}, recorded {rec.digest}")
    manifest = json.loads(raw)
    layers = manifest.get("layers") or []
    if len(layers) != len(rec.input.layers):
        raise ProducerError(f"{rec.reference}: {len(layers)} layers, the tool was given {len(rec.input.layers)}")
    for i, desc in enumerate(layers):
        head = blob_head(reg, rec.repository, desc["digest"])
        check_layer(rec.variant, desc, head, f"{rec.reference} layer {i}")
    return manifest


def check_index(reg: RunningRegistry, rec: PushedIndex) -> dict:
    raw, content_type = manifest_bytes(reg, rec.repository, rec.tag)
    if sha256(raw) != rec.digest or content_type != rec.media_type:
        raise ProducerError(f"{rec.reference}: {content_type} {sha256(raw)}, recorded {rec.media_type} {rec.digest}")
    index = json.loads(raw)
    listed = {f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"] for m in index["manifests"]}
    if listed != {p: r.digest for p, r in rec.platforms.items()}:
        raise ProducerError(f"{rec.reference}: lists {listed}")
    for child in rec.platforms.values():
        check_pushed(reg, child)
    return index


def pushed_record(reg: RunningRegistry, *, name: str, tool: str, variant: str, repository: str, tag: str,
                  input_name: str, format_entries: tuple[str, ...] = ()) -> Pushed:
    """The record of an image a tool just pushed, read back from the registry and checked."""
    raw, _ = manifest_bytes(reg, repository, tag)
    layers = tuple(d["digest"] for d in json.loads(raw).get("layers") or ())
    rec = Pushed(name=name, tool=tool, variant=variant, repository=repository, tag=tag, digest=sha256(raw),
                 layer_digests=layers, input_name=input_name, host=reg.host, format_entries=format_entries)
    check_pushed(reg, rec)
    return rec


def layout_record(path: Path, *, name: str, tool: str, variant: str, tag: str, input_name: str) -> Layout:
    """The record of an OCI layout a tool wrote, with each layer checked like a pushed one."""
    index = json.loads((path / "index.json").read_text())
    (desc,) = [m for m in index["manifests"] if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag]
    rec = Layout(name=name, tool=tool, variant=variant, path=path, tag=tag, digest=desc["digest"],
                 layer_digests=(), input_name=input_name)
    manifest = json.loads(rec.blob(desc["digest"]).read_bytes())
    rec.layer_digests = tuple(d["digest"] for d in manifest["layers"])
    if len(rec.layer_digests) != len(rec.input.layers):
        raise ProducerError(f"layout {path}: {len(rec.layer_digests)} layers, the tool was given {len(rec.input.layers)}")
    for i, d in enumerate(manifest["layers"]):
        with open(rec.blob(d["digest"]), "rb") as f:
            check_layer(variant, d, f.read(512), f"layout {path} layer {i}")
    return rec
