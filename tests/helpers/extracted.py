"""The truth for rx.diff: an image extracted by GNU tar, layer by layer, and its files hashed by sha256sum.

Independent of registry_explorer: manifests and blobs come from the registry over plain `requests` (each
blob checked against its digest with hashlib), layers are unpacked by GNU tar with the OCI layer spec's
whiteout rules applied before each layer (image-spec layer.md, as containerd's applier does): ``.wh.x``
removes x, ``.wh..wh..opq`` empties its directory of what lower layers put there, and a member replaces
what is in its way unless both are directories (a file over a directory included). Owners and modes are kept
(``--same-owner --numeric-owner -p``, as root); parents no layer lists are made as tar makes them (umask
022). As `sources/extract.py`, whiteout markers are not written as files.

`tree_state(root)` is what `find` (lstat) and `sha256sum` say of every path; `truth_diff(a, b)` applies the
diff rules of issue 25 to two of them: added, removed, type changed, modified (a file's sha256, a
symlink's target), metadata only (mode, owner); a changed mtime alone is no change.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import requests

ACCEPT = ", ".join(("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"))


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def image_layers(url: str, repository: str, reference: str, platform: str | None = None) -> list[dict]:
    """The layer descriptors of an image (of `platform` "os/arch" when the reference names an index)."""
    s = _session()
    doc = s.get(f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": ACCEPT}, timeout=60).json()
    if "manifests" in doc:
        os_, arch = (platform or "linux/amd64").split("/")[:2]
        child = next(m for m in doc["manifests"] if m.get("platform", {}).get("os") == os_
                     and m.get("platform", {}).get("architecture") == arch)
        doc = s.get(f"{url}/v2/{repository}/manifests/{child['digest']}", headers={"Accept": ACCEPT}, timeout=60).json()
    return doc["layers"]


def extract(url: str, repository: str, reference: str, dest: Path, platform: str | None = None) -> Path:
    """Unpack every layer of the image into `dest` (see the module docstring); returns `dest`."""
    dest.mkdir(parents=True)
    s = _session()
    for i, layer in enumerate(image_layers(url, repository, reference, platform)):
        data = s.get(f"{url}/v2/{repository}/blobs/{layer['digest']}", timeout=300).content
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"], layer["digest"]
        blob = dest.parent / f"{dest.name}-layer-{i}"
        blob.write_bytes(data)
        flag = "--zstd" if "zstd" in layer["mediaType"] else "-z" if "gzip" in layer["mediaType"] else ""
        listing = ["tar", "-t", *([flag] if flag else []), "-f", str(blob)]
        names = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.splitlines()
        kinds = [line[:1] for line in subprocess.run([*listing[:1], "-tv", *listing[2:]], capture_output=True,
                                                     text=True, check=True).stdout.splitlines()]
        assert len(kinds) == len(names)
        for name in names:  # whiteouts first: they apply to the layers below only
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            parent, base = dest.joinpath(*parts[:-1]), parts[-1]
            if base == ".wh..wh..opq":
                for child in list(parent.iterdir()) if parent.is_dir() and not parent.is_symlink() else []:
                    _remove(child)
            elif base.startswith(".wh."):
                _remove(parent / base[len(".wh."):])
        for name, kind in zip(names, kinds):  # what is in a member's way goes, unless both are directories
            parts = [p for p in name.split("/") if p not in ("", ".")]
            path = dest.joinpath(*parts) if parts else dest
            if parts and not parts[-1].startswith(".wh.") and os.path.lexists(path) and \
                    not (kind == "d" and path.is_dir() and not path.is_symlink()):
                _remove(path)
        script = 'umask 022; exec tar -x "$@"'
        subprocess.run(["sh", "-c", script, "tar", *([flag] if flag else []), "-f", str(blob), "-C", str(dest),
                        "--same-owner", "--numeric-owner", "-p", "--exclude=.wh.*"], check=True, capture_output=True)
        blob.unlink()
    return dest


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        subprocess.run(["rm", "-rf", str(path)], check=True)


def tree_state(root: Path) -> dict[str, dict]:
    """{path: {type, size, mode, uid, gid, link, digest, mtime}} of every path below `root` (lstat, sha256sum)."""
    out: dict[str, dict] = {}
    files: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            st = os.lstat(full)
            rel = full.relative_to(root).as_posix()
            kind = ("dir" if stat.S_ISDIR(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode)
                    else "file" if stat.S_ISREG(st.st_mode) else "other")
            out[rel] = {"type": kind, "size": st.st_size if kind == "file" else 0, "mode": stat.S_IMODE(st.st_mode),
                        "uid": st.st_uid, "gid": st.st_gid, "link": os.readlink(full) if kind == "symlink" else None,
                        "digest": None, "mtime": st.st_mtime}
            if kind == "file":
                files.append(rel)
    if files:
        listing = subprocess.run(["sha256sum", "--", *files], cwd=root, capture_output=True, text=True, check=True).stdout
        for line in listing.splitlines():
            digest, _, name = line.partition("  ")
            out[name]["digest"] = "sha256:" + digest
    return out


def truth_diff(a: dict[str, dict], b: dict[str, dict]) -> list[dict]:
    """The changes between two tree states, one dict per changed path (path, change, and both sides' fields)."""
    rows = []
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if x is None:
            change = "added"
        elif y is None:
            change = "removed"
        elif x["type"] != y["type"]:
            change = "type changed"
        elif (x["type"] == "file" and x["digest"] != y["digest"]) or (x["type"] == "symlink" and x["link"] != y["link"]):
            change = "modified"
        elif (x["mode"], x["uid"], x["gid"]) != (y["mode"], y["uid"], y["gid"]):
            change = "metadata only"
        else:
            continue
        row = {"path": path, "change": change}
        for field in ("type", "size", "mode", "uid", "gid", "link", "digest"):
            row[f"{field}_a"] = x[field] if x else None
            row[f"{field}_b"] = y[field] if y else None
        rows.append(row)
    return rows
