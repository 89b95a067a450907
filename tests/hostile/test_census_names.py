"""Issue 21, class 5: hostile names in the census, and a resume journal someone edited.

A repository name is the registry's to choose: 179 characters, or 90 components (valid names
both), became one directory name under `out=` and the whole census died with `OSError: File name
too long`. The journal under `out=/_census` is a file anyone can edit: its lines named files the
next run read (or deleted) without asking where they were. Each test runs a real registry
(distribution 2.8) with repositories pushed under such names, or a recording server whose catalog
lists names no registry should, and checks three things: the census finishes (an odd name is at
most an error row), every path it writes stays short and inside `out=`, and nothing outside
`out=` is read, written or deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers.ci import in_ci
from helpers.hostile import outcome, plain_client, recording_server, tree_snapshot

import registry_explorer as rx
from registry_explorer.census_engine.journal import part_path
from registry_explorer.census_engine.run import _pick_tags
from registry_explorer.census_engine.store import JOURNAL, ParquetSink
from registry_explorer.sandbox.push import push_image, push_tags
from registry_explorer.sandbox.registry import RegistryBinaryMissing, start_registry

pytestmark = pytest.mark.integration

DEEP = "/".join(["a"] * 90)  # 90 components, 179 characters: valid
LONG = "l" * 179  # one component of 179 characters: valid
WIDE = "w" * 118 + "/" + "v" * 118  # two long components
HUGE = "h" * 245  # valid for distribution (255), too long for a full reference with our host: an error row
PLAIN = "plain/app"
NAMES = (DEEP, LONG, WIDE, HUGE, PLAIN)
TAGS = ("v1", "v2", "v3", "v10")
NAME_MAX = 255  # bytes per path component on Linux file systems (NAME_MAX)
SANE_TOTAL = 600  # bytes of a path relative to out=: whatever the name, a table, a directory and a file


@pytest.fixture(scope="module")
def reg(tmp_path_factory, images):
    try:
        running = start_registry("open", tmp_path_factory.mktemp("census-names"))
    except RegistryBinaryMissing as exc:
        if in_ci():
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))
    with running:
        single = images["single"]
        for name in NAMES:
            push_image(running.url, single, repository=name, tag=TAGS[0])
            push_tags(running.url, name, single.root, TAGS[1:])
        yield running


def _single_manifest() -> bytes:
    from registry_explorer.sandbox.samples import build_images  # the session's cached images, as conftest's

    return build_images(cached=True)["single"].root.data


def _client(reg) -> rx.Client:
    return rx.Client(insecure=(reg.host,), docker_config={}, cache=False, retries=0)


def _assert_paths_sane(out: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(out):
        for n in dirnames + filenames:
            p = Path(dirpath, n)
            assert len(n.encode()) <= NAME_MAX, f"a path component of {len(n.encode())} bytes: {n[:40]}..."
            rel = os.path.relpath(p, out)
            assert len(rel.encode()) <= SANE_TOTAL, f"a path of {len(rel.encode())} bytes under out=: {rel[:60]}..."
            assert not p.is_symlink(), f"the census wrote a symlink: {rel}"


def _key(df: pd.DataFrame) -> list[tuple]:
    return sorted(zip(df["repository"].astype(str), df["tag"].astype(str)))


def test_long_and_deep_names_census_to_parquet(reg, tmp_path):
    """The 179-character and the 90-component names are walked; the exact names are in the tables."""
    out = tmp_path / "out"
    census, exc = outcome(lambda: rx.census(_client(reg), reg.host, out=out, progress=False))
    assert exc is None, f"the census did not finish: {exc!r}"
    walked = {n for n in NAMES if n != HUGE}
    assert set(census.tags["repository"]) == walked
    assert _key(census.tags) == sorted((n, t) for n in walked for t in TAGS)
    # The one name our references cannot hold (registry + name > 255) is one error row, not a crash.
    errors = census.errors
    assert list(errors["repository"]) == [HUGE] and errors["error"].tolist() == ["InvalidReference"], errors
    _assert_paths_sane(out)
    # Plain pandas reads the tables back with the exact names (the directory holds only a short key).
    on_disk = pd.read_parquet(out / "tags")
    assert _key(on_disk) == _key(census.tags)
    assert set(pd.read_parquet(out / "errors")["repository"].astype(str)) == {HUGE}
    # A re-run resumes: nothing to do, the same tables.
    again = rx.census(_client(reg), reg.host, out=out, progress=False)
    assert again.stats["units"] == 0 and again.stats["skipped"] == len(walked) * len(TAGS)
    assert _key(again.tags) == _key(census.tags)


HOSTILE_NAMES = ["ok/app", "a" * 300, "../../escape", "A/Upper", "x\n/y", "/".join(["d"] * 200), "dot/./dot",
                 "%2e%2e/%2f", "é/unicode", "a" * 120 + "/" + "b" * 120, "nul\x00/x",
                 "lone\ud800surrogate"]


def _catalog_server(h, s):
    path = s.path.split("?")[0]
    if path == "/v2/":
        return h.json(200, {})
    if path == "/v2/_catalog":
        return h.json(200, {"repositories": HOSTILE_NAMES})
    if path.endswith("/tags/list"):
        return h.json(200, {"name": path[4:-10], "tags": []})  # no tags: only the listing rows matter
    return h.json(404, {"errors": [{"code": "NAME_UNKNOWN"}]})


def test_names_no_registry_should_list_are_error_rows_at_most(tmp_path):
    """A catalog listing 300-character, 200-component, `..`, upper-case and control-character names."""
    out = tmp_path / "out"
    with recording_server(_catalog_server) as srv:
        census, exc = outcome(lambda: rx.census(plain_client(insecure=(srv.host,)), srv.host, out=out,
                                                progress=False))
    assert exc is None, f"the census did not finish: {exc!r}"
    listed = set(census.repositories["repository"]) | set(census.errors["repository"])
    # A lone surrogate cannot be written anywhere (UTF-8, Parquet): it reads as U+FFFD (core/jsontext.py).
    expect = {n.replace("\ud800", "\ufffd") for n in HOSTILE_NAMES}
    assert listed == expect, "every name is a repository row or an error row, exactly as listed"
    assert census.errors["repository"].is_unique, "at most one error row per name"
    assert set(census.errors["error"]) <= {"InvalidReference"}, census.errors
    _assert_paths_sane(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "something was written next to out="


# -- the resume journal ------------------------------------------------------------------------------


def _forged(where: Path, reg) -> Path:
    """A Parquet file of census `tags` rows claiming a tag FORGED, written the way a census writes them."""
    sink = ParquetSink(where, ("tags",), {"forged": True})
    sink.write(PLAIN, ["FORGED"], {"tags": [{"repository": PLAIN, "tag": "FORGED", "digest": "sha256:" + "f" * 64,
                                             "media_type": "x", "size": 1}]}, listed=False)
    return next(p for p in where.rglob("*.parquet"))


def _lines(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / JOURNAL).read_text().splitlines() if x.strip()]


def _append(out: Path, *lines) -> None:
    with open(out / JOURNAL, "a") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def _edit_first(out: Path, change) -> None:
    lines = (out / JOURNAL).read_text().splitlines()
    for i, text in enumerate(lines):
        entry = json.loads(text)
        if entry.get("files") and entry.get("repository") == PLAIN:
            change(entry)
            lines[i] = json.dumps(entry)
            break
    (out / JOURNAL).write_text("\n".join(lines) + "\n")


def _file_entry(out: Path, rel_for) -> dict:
    first = next(e for e in _lines(out) if e["repository"] == PLAIN and e["files"])
    return {"seq": 90, "repository": PLAIN, "tags": [], "listed": False, "files": [rel_for(first)]}


def _symlinked_table(out: Path, outside: Path, forged: Path) -> None:
    target = outside / "tags-elsewhere"
    shutil.copytree(out / "tags", target)
    (target / "keep-me.parquet").write_bytes(forged.read_bytes())
    shutil.rmtree(out / "tags")
    (out / "tags").symlink_to(target, target_is_directory=True)


def _symlinked_file(out: Path, forged: Path, *, as_ours: bool = False) -> None:
    """A journal line naming a link to a file outside out=; `as_ours`: named exactly as the line's own chunk
    would name its file, so only the link itself can give it away."""
    entry = next(e for e in _lines(out) if e["repository"] == PLAIN and e["files"])
    rel = entry["files"][0]
    link = out / (part_path("tags", PLAIN, 91) if as_ours else Path(rel).with_name("part-999999.parquet"))
    link.symlink_to(forged)
    _append(out, {"seq": 91, "repository": PLAIN, "tags": [], "listed": False, "files": [str(link.relative_to(out))]})


EDITS = {
    "empty-object": lambda out, outside, forged: _append(out, {}),
    "empty-list": lambda out, outside, forged: _append(out, []),
    "json-null": lambda out, outside, forged: _append(out, "null"),
    "json-string": lambda out, outside, forged: _append(out, '"tags"'),
    "tags-null": lambda out, outside, forged: _edit_first(out, lambda e: e.update(tags=None)),
    "tags-a-string": lambda out, outside, forged: _edit_first(out, lambda e: e.update(tags="v1")),
    "files-null": lambda out, outside, forged: _edit_first(out, lambda e: e.update(files=None)),
    "repository-a-number": lambda out, outside, forged: _edit_first(out, lambda e: e.update(repository=5)),
    "seq-a-string": lambda out, outside, forged: _append(out, {"seq": "x", "repository": PLAIN, "tags": [],
                                                              "listed": False, "files": []}),
    "seq-infinite": lambda out, outside, forged: _append(out, '{"seq": 1e400, "repository": "plain/app", "tags": [],'
                                                              ' "listed": false, "files": []}'),
    "file-dot-dot": lambda out, outside, forged: _append(out, _file_entry(
        out, lambda e: "tags/../../" + os.path.relpath(forged, out.parent))),
    "file-absolute": lambda out, outside, forged: _append(out, _file_entry(out, lambda e: str(forged))),
    "file-other-table": lambda out, outside, forged: _append(out, _file_entry(
        out, lambda e: "layers/" + e["files"][0].split("/", 1)[1])),
    "file-symlink-outside": lambda out, outside, forged: _symlinked_file(out, forged),
    "file-symlink-outside-named-as-ours": lambda out, outside, forged: _symlinked_file(out, forged, as_ours=True),
    "table-dir-symlink-outside": lambda out, outside, forged: _symlinked_table(out, outside, forged),
    "journal-symlink": lambda out, outside, forged: (
        shutil.move(out / JOURNAL, outside / "journal.jsonl"), (out / JOURNAL).symlink_to(outside / "journal.jsonl")),
    "meta-garbage": lambda out, outside, forged: (out / "_census" / "meta.json").write_text("[1, 2"),
    "meta-a-list": lambda out, outside, forged: (out / "_census" / "meta.json").write_text("[]"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_journal_is_refused_or_ignored_never_followed_outside(reg, tmp_path, edit):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    forged = _forged(outside / "forged", reg)
    rx.census(_client(reg), reg.host, repositories=[PLAIN], out=out, progress=False)
    EDITS[edit](out, outside, forged)  # then a re-run that has work to do: LONG is new
    before = {p: (outside / p).read_bytes() if (outside / p).is_file() else None for p in tree_snapshot(outside)}
    census, exc = outcome(lambda: rx.census(_client(reg), reg.host, repositories=[PLAIN, LONG], out=out,
                                            progress=False))
    tables = None if exc is not None else (census.tags, census.repositories, census.errors, census.layers)
    after = {p: (outside / p).read_bytes() if (outside / p).is_file() else None for p in tree_snapshot(outside)}
    assert after == before, "something outside out= was written or deleted"
    if exc is not None:
        assert isinstance(exc, ValueError) and not isinstance(exc, (KeyError, TypeError)), f"{exc!r}"
        assert "journal" in str(exc) or "_census" in str(exc) or "out=" in str(exc), f"unclear: {exc}"
        return
    tags, repos, errors, layers = tables
    assert "FORGED" not in set(tags["tag"]), "rows were read from a file outside out="
    assert _key(tags) == sorted((n, t) for n in (PLAIN, LONG) for t in TAGS), "the tables are whole, each row once"
    assert sorted(repos["repository"]) == sorted([PLAIN, LONG]) and errors.empty, errors
    assert not layers.duplicated(["repository", "tag", "manifest_digest", "index"]).any(), "a file was read twice"
    assert len(layers) == len(tags) * len(rx.parse_manifest(_single_manifest()).layers)
    assert "FORGED" not in set(pd.read_parquet(out / "tags")["tag"]) if (out / "tags").is_dir() else True


# -- census(tags=N) -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 10**6])
def test_tags_n_picks_the_newest_n_or_all(n):
    """The newest n by tag order (v10 after v2); n beyond the count is all of them."""
    newest = ["v1", "v2", "v10"][max(0, 3 - n):]
    assert _pick_tags(["v1", "v10", "v2"], n) == newest
    assert _pick_tags(["only"], n) == (["only"] if n else [])


@pytest.mark.parametrize("n", [len(TAGS) + 1, len(TAGS) + 2, 2 * len(TAGS) - 1, 100])
def test_census_tags_n_larger_than_the_tag_count_walks_them_all(reg, n):
    census = rx.census(_client(reg), reg.host, repositories=[PLAIN], tags=n, progress=False)
    assert sorted(census.tags["tag"]) == sorted(TAGS), f"tags={n} of {len(TAGS)} walked {len(census.tags)}"


def test_bad_tags_arguments_are_value_errors():
    for bad in (-1, True, "3", 2.5):
        _, exc = outcome(lambda bad=bad: _pick_tags(["a"], bad))
        assert isinstance(exc, ValueError), f"tags={bad!r}: {exc!r}"
