"""The one resolver (imagefs/tree.py) agrees with the whole-listing merge (layers/merge.py) on every path.

Two implementations of the OCI whiteout rules exist for a reason (the resolver looks at layers
top first and only as far down as a path needs; the listing merges every layer once), so a
property test holds them to one answer: for random stacks of layers with files, directories,
links, file whiteouts, opaque directories, type changes and tars that omit parent directories,
`MergedView.lookup(path)` names the entry and layer that `merge_layers` keeps for that path.
"""

from __future__ import annotations

import posixpath

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_explorer.core.errors import NotAFile, PathNotFound, SymlinkLoop
from registry_explorer.core.models import Descriptor
from registry_explorer.imagefs.tree import MAX_SYMLINK_HOPS, LayerView, MergedView
from registry_explorer.layers import Entry, merge_layers
from registry_explorer.peek.index import IndexEntry, LayerIndex

NAMES = ("a", "b", "c")
PATHS = [p for p in (f"{x}" for x in NAMES)] + [f"{x}/{y}" for x in NAMES for y in NAMES] + \
    [f"{x}/{y}/{z}" for x in NAMES[:2] for y in NAMES[:2] for z in NAMES[:2]]


def _entry(path, kind, whiteout=None, link=""):
    return Entry(path=path, type=kind, size=1 if kind == "file" else 0, mode=0o644, uid=0, gid=0, mtime=0.0,
                 linkname=link, whiteout=whiteout)


@st.composite
def stacks(draw):
    layers: list[list[Entry]] = []
    non_dirs_below: set[str] = set()
    for _ in range(draw(st.integers(1, 4))):
        entries: list[Entry] = []
        if draw(st.integers(0, 5)) == 0:  # a tar naming the root ("/", "./"), even as a file: still the root
            entries.append(_entry(".", draw(st.sampled_from(["dir", "file"]))))
        for path in draw(st.lists(st.sampled_from(PATHS), max_size=6, unique=True)):
            action = draw(st.sampled_from(["file", "dir", "symlink", "whiteout", "opaque"]))
            parents = [posixpath.dirname(path)] if "/" in path else []
            while parents and "/" in parents[-1]:
                parents.append(posixpath.dirname(parents[-1]))
            for parent in reversed(parents):
                # A tar may omit a parent; but an implied directory over a lower *file* is not an image a
                # tool writes (extraction would fail), so then the directory is written explicitly.
                if parent in non_dirs_below or draw(st.booleans()):
                    entries.append(_entry(parent, "dir"))
            if action == "whiteout":
                entries.append(_entry(path, "file", "file"))
            elif action == "opaque":
                entries.append(_entry(path, "dir"))
                entries.append(_entry(path, "dir", "opaque"))
            elif action == "symlink":
                entries.append(_entry(path, "symlink", link=draw(st.sampled_from(PATHS + ["/a", "../b", "x"]))))
            else:
                entries.append(_entry(path, action))
        layers.append(entries)
        non_dirs_below |= {e.path for e in entries if e.whiteout is None and e.type != "dir"}
    return layers


def _views(layers):
    views = {}
    for pos, entries in enumerate(layers):
        idx = LayerIndex(layer_digest=f"sha256:{pos:064x}", layer_size=1, media_type="", kind="stream-only",
                         chain="verified-index", entries=[IndexEntry(e) for e in entries])
        views[pos] = LayerView(pos, Descriptor("", idx.layer_digest, 1), idx)
    return views


@settings(max_examples=400, deadline=None)
@given(stacks())
def test_lookup_agrees_with_merge_layers(layers):
    merged = {p.entry.path: p for p in merge_layers((i, f"sha256:{i:064x}", e) for i, e in enumerate(layers))}
    views = _views(layers)
    view = MergedView(list(reversed(range(len(layers)))), views.__getitem__, "img")
    implied = {posixpath.dirname(p) for p in merged if "/" in p}
    for path in PATHS:
        hit = view.lookup(path)
        if path in merged:
            assert hit is not None, path
            assert hit[0].entry == merged[path].entry and hit[1].pos == merged[path].layer_index, path
        elif path not in implied:
            # Absent from the listing: no layer answers, except a directory a lower layer's tar implies
            # whose children were all whited out above (extraction would still have made it).
            written_under = any(e.path.startswith(path + "/") for entries in layers for e in entries)
            assert hit is None or (hit[0].entry.type == "dir" and written_under), (path, hit)


def test_resolution_rules_through_one_resolver():
    """Absolute and relative links, `..` past the root, loops, a link through a whited-out directory, a directory."""
    layers = [
        [_entry("etc", "dir"), _entry("etc/os-release", "file"), _entry("gone", "dir"), _entry("gone/x", "file")],
        [_entry("etc/abs", "symlink", link="/etc/os-release"), _entry("etc/rel", "symlink", link="os-release"),
         _entry("etc/up", "symlink", link="../../../../etc/os-release"), _entry("loop", "symlink", link="loop"),
         _entry("via", "symlink", link="gone/x"), _entry("gone", "file", "file")],
    ]
    views = _views(layers)
    view = MergedView([1, 0], views.__getitem__, "img")
    for path in ("etc/abs", "etc/rel", "etc/up", "etc/../etc/os-release", "/etc/os-release", "../etc/os-release"):
        assert view.content_node(path).path == "etc/os-release", path
    try:
        view.content_node("loop")
        raise AssertionError("a loop resolved")
    except SymlinkLoop as exc:
        assert exc.errno == 40 and str(MAX_SYMLINK_HOPS) in str(exc)
    for path, err in (("via", PathNotFound), ("gone/x", PathNotFound), ("etc", NotAFile), ("missing", PathNotFound),
                      ("etc/os-release/x", PathNotFound)):
        try:
            view.content_node(path)
            raise AssertionError(f"{path} resolved")
        except err:
            pass
