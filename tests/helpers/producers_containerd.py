"""containerd in a temp dir, stargz-snapshotter's `ctr-remote` as a writer, and `ctr` as an independent peer.

The daemon's root, state, config and sockets all live under its work dir (the unix socket path must stay
under 108 bytes, so a long work dir gets a short one in /tmp); it runs with the `native` snapshotter
only, under `setpriv --pdeathsig TERM` so it dies with the test process, and is stopped by PID.
Content is `isolated` between namespaces (containerd's default, `shared`, would let a pull in a new
namespace skip the download of a blob another namespace already holds: `ctr` would then vouch for bytes
it never fetched).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from helpers.producers import ProducerError, ProducerUnavailable, Pushed, pushed_record, require_tools, shown_argv
from registry_explorer.sandbox.registry import RunningRegistry, log_tail, terminate

PREFIX = "producers/"
TAG = "v1"
# name -> (variant, ctr-remote convert flags, entries the conversion adds to every layer)
CONVERSIONS = {
    "ctr-remote-estargz": ("estargz", ("--estargz", "--oci"), ("stargz.index.json", ".no.prefetch.landmark")),
    # 64 KiB chunks: the 20 MiB file becomes one `reg` and 319 `chunk` TOC entries
    "ctr-remote-estargz-64k": ("estargz", ("--estargz", "--estargz-chunk-size", "65536", "--oci"),
                               ("stargz.index.json", ".no.prefetch.landmark")),
    "ctr-remote-zstdchunked": ("zstd:chunked", ("--zstdchunked", "--oci"), (".no.prefetch.landmark",)),
    "ctr-remote-uncompressed": ("none", ("--uncompress", "--oci"), ()),
}
_DISABLED = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
             "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.overlayfs",
             "io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]


class Containerd:
    """A private containerd daemon. `ctr(...)` / `remote(...)` run ctr / ctr-remote against it."""

    def __init__(self, workdir: Path):
        require_tools("containerd", "ctr", "setpriv")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        sock_dir = self.workdir
        if len(str(sock_dir / "containerd.ttrpc.sock")) > 100:
            sock_dir = Path(tempfile.mkdtemp(prefix="rx-ctd-"))
        self.socket = sock_dir / "containerd.sock"
        self.config = self.workdir / "config.toml"
        self.log_path = self.workdir / "containerd.log"
        self.process: subprocess.Popen | None = None
        self._sock_dir = sock_dir

    def start(self, timeout: float = 15) -> Containerd:
        w = self.workdir
        self.config.write_text(f"""version = 2
root = "{w / 'root'}"
state = "{w / 'state'}"
temp = "{w / 'tmp'}"
disabled_plugins = {json.dumps(_DISABLED)}
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self._sock_dir / 'containerd.ttrpc.sock'}"
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
""")
        (w / "tmp").mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(["setpriv", "--pdeathsig", "TERM", "--", "containerd", "--config", str(self.config)],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=w)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ProducerError(f"containerd exited (rc={self.process.returncode}):\n{log_tail(self.log_path)}")
            if self.socket.exists() and self._call("ctr", "version", check=False).returncode == 0:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise ProducerError(f"containerd did not answer in {timeout}s:\n{log_tail(self.log_path)}")
            time.sleep(0.05)

    def stop(self) -> None:
        terminate(self.process)
        if self._sock_dir != self.workdir:
            shutil.rmtree(self._sock_dir, ignore_errors=True)

    def _call(self, tool: str, *args: str, namespace: str = "rx", check: bool = True, timeout: float = 300):
        argv = [tool, "--address", str(self.socket), "--namespace", namespace, *map(str, args)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINERD_")}
        env["CONTAINERD_SNAPSHOTTER"] = "native"  # `ctr image pull` unpacks; only `native` is loaded
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ProducerError(f"{tool} failed (rc={proc.returncode}): {shown_argv(argv)}\n{proc.stderr[-3000:]}")
        return proc

    def ctr(self, *args: str, namespace: str = "rx") -> str:
        return self._call("ctr", *args, namespace=namespace).stdout

    def remote(self, *args: str, namespace: str = "rx") -> str:
        return self._call("ctr-remote", *args, namespace=namespace).stdout


def registry_flags(reg: RunningRegistry) -> list[str]:
    """ctr's flags to reach a test registry: plain http, or its CA; its credentials."""
    flags = ["--plain-http"] if reg.scheme == "http" else ["--tlscacert", str(reg.ca_file)]
    if reg.auth:
        flags += ["--user", ":".join(reg.auth)]
    return flags


def build_ctr_remote(reg: RunningRegistry, daemon: Containerd, source: Pushed) -> dict[str, Pushed]:
    """Pull `source` (a gzip image) into containerd, convert it with ctr-remote in every way of
    CONVERSIONS, push each with `ctr image push`, and check what arrived."""
    require_tools("ctr-remote")
    flags = registry_flags(reg)
    daemon.ctr("image", "pull", *flags, source.reference)
    records = {}
    for name, (variant, convert, extra) in CONVERSIONS.items():
        target = f"{reg.host}/{PREFIX}{name}:{TAG}"
        daemon.remote("image", "convert", *convert, source.reference, target)
        daemon.ctr("image", "push", *flags, target)
        records[name] = pushed_record(reg, name=name, tool="ctr-remote", variant=variant, repository=PREFIX + name,
                                      tag=TAG, input_name=source.input_name, format_entries=extra)
    return records


def ctr_fetch_digests(daemon: Containerd, reg: RunningRegistry, reference: str, *, all_platforms: bool = True) -> set[str]:
    """Every digest containerd fetched (and verified) for `reference`, in a namespace of its own.

    `ctr content fetch` walks the index/manifest/config/layers itself and checks each blob against its
    digest as it commits it, so a match with what we report is a vote from an independent client.
    """
    ns = f"peer-{uuid.uuid4().hex[:12]}"
    daemon.ctr("content", "fetch", *registry_flags(reg), *(["--all-platforms"] if all_platforms else []), reference,
               namespace=ns)
    listed = daemon.ctr("content", "ls", "--quiet", namespace=ns).split()
    return {d for d in listed if d.startswith("sha256:")}


def start_containerd(workdir: Path) -> Containerd:
    """A started daemon, or ProducerUnavailable when containerd/ctr are missing."""
    try:
        return Containerd(workdir).start()
    except FileNotFoundError as exc:  # setpriv or containerd vanished between the check and the start
        raise ProducerUnavailable(str(exc)) from exc
