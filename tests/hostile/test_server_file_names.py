"""Issue 21, class 9: names a server chooses never decide where `rx export`, `rx pull`, `rx blob` or the
curl script write.

- `rx export REF FILE|-`: tar member names come from layers (`../../x`, `/abs`, `a/../../b`); the
  stream holds only relative names inside the image.
- `rx pull --format oci REF DIR`: an index names its children by digest, and digests become file
  names; a malformed one (`sha256:../../x`) is refused before anything is written.
- `rx blob REPO@DIGEST`: the digest is the user's and is validated; a tag or a path is refused.
- `rx trace --curl`: `-o` names come only from digests, never from a storage URL's last component,
  and land in the directory the script names.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest
from helpers.hostile import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZ,
    OCI_MANIFEST,
    layer_tar,
    recording_server,
    static_registry,
    tree_snapshot,
)
from helpers.hostile_layout import write_layout
from helpers.shown import run_cli

import registry_explorer as rx
from registry_explorer.doors import operations
from registry_explorer.http.trace import Trace


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _desc(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": _sha(data), "size": len(data), **extra}


EVIL_NAMES = ["../../escape", "/abs/path", "a/../../b", "./ok/../fine", "..", "/", "normal", "dir/../../../x"]


def _image_blobs(names: list[str]) -> tuple[bytes, dict[str, bytes]]:
    infos = []
    for n in names:
        info = tarfile.TarInfo(n)
        info.size = 0
        infos.append(info)
    layer = layer_tar(infos)
    diff = "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _desc(OCI_CONFIG, config),
                           "layers": [_desc(OCI_LAYER_GZ, layer)]}).encode()
    return manifest, {_sha(b): b for b in (layer, config, manifest)}


def test_export_stream_names_stay_inside_the_image(tmp_path):
    manifest, blobs = _image_blobs(EVIL_NAMES)
    write_layout(tmp_path / "l", blobs, [_desc(OCI_MANIFEST, manifest,
                                              annotations={"org.opencontainers.image.ref.name": "v1"})])
    buf = io.BytesIO()
    written = operations.export(rx.Layout(tmp_path / "l"), f"oci:{tmp_path / 'l'}:v1", buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = tar.getnames()
        assert written == len(names) > 0
        # Extracting the stream with Python's strictest filter raises on any member that would escape.
        out = tmp_path / "x"
        out.mkdir()
        tar.extractall(out, filter="data")
    assert all(not n.startswith("/") and ".." not in n.split("/") for n in names), names
    assert {"normal", "abs/path"} <= set(names)  # a name with a `..` component names nothing inside: left out
    assert tree_snapshot(tmp_path) >= {"x/normal"} and not (tmp_path / "escape").exists()


def test_rx_export_to_a_file_or_stdout(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    manifest, blobs = _image_blobs(EVIL_NAMES)
    files = {"/v2/r/manifests/v1": (manifest, OCI_MANIFEST)}
    files.update({f"/v2/r/blobs/{d}": (b, "application/octet-stream") for d, b in blobs.items()})
    files[f"/v2/r/manifests/{_sha(manifest)}"] = (manifest, OCI_MANIFEST)
    with recording_server(static_registry(files)) as rec:
        code, _, err = run_cli(capsys, "--insecure", rec.host, "export", f"{rec.host}/r:v1", str(tmp_path / "fs.tar"))
    assert code == 0, err
    with tarfile.open(tmp_path / "fs.tar") as tar:
        assert all(".." not in n.split("/") and not n.startswith("/") for n in tar.getnames())
    assert not list(tmp_path.glob(".fs.tar.part")), "the partial file was renamed into place"


def test_pull_refuses_a_malformed_child_digest_before_writing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    manifest, blobs = _image_blobs(["normal"])
    bad = {"mediaType": OCI_MANIFEST, "digest": "sha256:../../../../escape", "size": 10,
           "platform": {"os": "linux", "architecture": "arm64"}}
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        _desc(OCI_MANIFEST, manifest, platform={"os": "linux", "architecture": "amd64"}), bad]}).encode()
    files = {"/v2/r/manifests/v1": (index, OCI_INDEX), f"/v2/r/manifests/{_sha(index)}": (index, OCI_INDEX),
             f"/v2/r/manifests/{_sha(manifest)}": (manifest, OCI_MANIFEST)}
    files.update({f"/v2/r/blobs/{d}": (b, "application/octet-stream") for d, b in blobs.items()})
    before = tree_snapshot(tmp_path)
    with recording_server(static_registry(files)) as rec:
        code, out, err = run_cli(capsys, "--insecure", rec.host, "pull", "--format", "oci", f"{rec.host}/r:v1",
                                 str(tmp_path / "dir"))
        old = run_cli(capsys, "--insecure", rec.host, "export", f"{rec.host}/r:v1", str(tmp_path / "dir2"))
    assert code == 1 and err.startswith("rx: error: ") and "digest" in err, err
    assert old[0] == 1 and "deprecated" in old[2]
    created = tree_snapshot(tmp_path) - before
    assert not any("escape" in p for p in created), created
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("ref", ["127.0.0.1:1/r:latest", "127.0.0.1:1/r@sha256:../../x", "127.0.0.1:1/r@sha256:"
                                 + "A" * 64, "127.0.0.1:1/r@md5:" + "a" * 32])
def test_blob_names_come_only_from_a_valid_digest(ref, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "blob", ref)
    assert code == 1 and err.startswith("rx: error: ") and out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("storage", ["https://s.example/a/..%2f..%2fevil:name", "https://s.example/.bashrc",
                                     "https://s.example/x/sha256:" + "a" * 64 + "/../../y", "https://s.example/x:y?sig=1"])
def test_curl_output_names_come_only_from_digests(storage):
    ex = Trace().start("GET", storage, "blob", {})
    assert ex.curl_output() == "blob"
    line = ex.as_curl(out_dir="/tmp/rx-trace-x")
    assert " -o /tmp/rx-trace-x/blob " in line
    good = Trace().start("GET", "https://r.example/v2/a/blobs/sha256:" + "b" * 64, "blob", {})
    assert good.curl_output() == "sha256-" + "b" * 64
