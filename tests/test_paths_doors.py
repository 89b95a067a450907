"""The path table (issue 24, class 1): every row gives the same bytes or the same error at every door.

The rows (tests/helpers/path_image.py) are the ways a path resolves in a merged filesystem:
absolute and relative links, `..` past the root, a link loop, a link through a whited-out
directory, a hard link (which keeps its own layer's bytes), a whited-out directory whose
children must be hidden, an opaque directory, a directory, a device, a missing path and a file
under a file. The doors: `read_file`, `open_file`, `docker://` (`fsspec.open`, `cat_file`,
`info`, `ls`), `rx cat` (a subprocess), `%rx cat` (IPython's magic in-process), the Explorer's
preview (`read_preview` and the state's `select_file`) and the listings (`frames.image_files`,
`ImageFS.entries`). The same table runs against an OCI layout of the same image, at every door a
layout has (`rx` and `%rx` build a registry Client).

The expected values are written in the table, not taken from one door: a door that agrees with
another door's bug still fails.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import fsspec
import pytest
from helpers.clients import client_for
from helpers.path_image import ROWS, SKIP, Row, image
from IPython.core.interactiveshell import InteractiveShell

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core.errors import NotAFile, RegistryExplorerError
from registry_explorer.doors.dockerfs import DockerFileSystem
from registry_explorer.imagefs.filesystem import ImageFS
from registry_explorer.sandbox.push import push_image
from registry_explorer.widgets import ExplorerState
from registry_explorer.widgets.content import read_preview

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
IDS = [r.id for r in ROWS]


@pytest.fixture(scope="module")
def remote(open_registry):
    """(client, reference) of the path-table image on the real registry."""
    push_image(open_registry.url, image(), verify=open_registry.verify)
    return client_for(open_registry), f"{open_registry.host}/test/paths:v1"


@pytest.fixture(scope="module")
def layout(remote, tmp_path_factory):
    """(layout, reference) of the same image, copied from the registry into an OCI layout."""
    client, ref = remote
    path = tmp_path_factory.mktemp("paths-layout")
    client.save_layout(ref, path)
    return rx.Layout(path), f"oci:{path}:v1"


@pytest.fixture(params=["registry", "layout"])
def source(request, remote):
    return remote if request.param == "registry" else request.getfixturevalue("layout")


def outcome(call):
    """('bytes', data) or ('error', exception class, message)."""
    try:
        return ("bytes", call())
    except Exception as exc:  # noqa: BLE001 - the class is what the table compares
        return ("error", type(exc), " ".join(str(exc).split()))


def expected(row: Row, got) -> bool:
    if isinstance(row.expect, bytes):
        return got == ("bytes", row.expect)
    return got[0] == "error" and issubclass(got[1], row.expect) and issubclass(got[1], RegistryExplorerError)


def check(door: str, results: dict[str, tuple]) -> None:
    wrong = {r.path: results[r.path] for r in ROWS if r.path in results and not expected(r, results[r.path])}
    assert wrong == {}, f"{door}: rows that differ from the table: {wrong}"


def docker_url(ref: str, path: str) -> str:
    # A layout is one repository: docker:// with client=Layout ignores the host and repository.
    return f"docker://{ref}/{path}" if not ref.startswith("oci:") else f"docker://localhost/paths:v1/{path}"


def docker_fs(client) -> DockerFileSystem:
    # This checkout's class (the editable install may be another checkout's), as test_doors_fsspec does.
    fsspec.register_implementation("docker", DockerFileSystem, clobber=True)
    return fsspec.filesystem("docker", client=client, skip_instance_cache=True)


# -- reading doors ----------------------------------------------------------------------------------

def test_read_file_and_open_file(source):
    client, ref = source
    check("read_file", {r.path: outcome(lambda r=r: client.read_file(ref, r.path)) for r in ROWS})
    check("open_file", {r.path: outcome(lambda r=r: client.open_file(ref, r.path).read()) for r in ROWS})
    check("ImageFS.read", {r.path: outcome(lambda r=r: ImageFS(client, ref).read(r.path, 0, None)) for r in ROWS})


def test_docker_open_and_cat_file(source):
    client, ref = source
    fs = docker_fs(client)

    def via_open(path):
        with fsspec.open(docker_url(ref, path), "rb", client=client, skip_instance_cache=True) as f:
            return f.read()

    check("fsspec.open", {r.path: outcome(lambda r=r: via_open(r.path)) for r in ROWS})
    check("cat_file", {r.path: outcome(lambda r=r: fs.cat_file(docker_url(ref, r.path))) for r in ROWS})


def test_docker_info_follows_links_and_reports_the_same_errors(source):
    """info() of a readable row is a file of its size; a directory or device is listed as such; the rest raise."""
    client, ref = source
    fs = docker_fs(client)
    wrong = {}
    for r in ROWS:
        got = outcome(lambda r=r: fs.info(docker_url(ref, r.path)))
        if isinstance(r.expect, bytes):
            ok = got[0] == "bytes" and (got[1]["type"], got[1]["size"]) == ("file", len(r.expect))
        elif r.expect is NotAFile:
            ok = got[0] == "bytes" and got[1]["type"] == ("directory" if r.listed == "dir" else "other")
        else:
            ok = expected(r, got)
        if not ok:
            wrong[r.path] = got
    assert wrong == {}


def test_docker_ls_lists_each_name_once_even_when_its_link_leads_nowhere(source):
    """ls() of each row's directory: the name is there exactly when the listing has it; a dangling link or a
    loop is listed as 'other' (as fsspec's local filesystem lists a broken symlink), never fatal to the listing."""
    client, ref = source
    fs = docker_fs(client)
    listings: dict[str, object] = {}
    wrong = {}
    for r in ROWS:
        if r.listed == SKIP:
            continue
        parent = posixpath.dirname(r.path) or "."
        if parent not in listings:
            listings[parent] = outcome(lambda p=parent: {e["name"].split(":v1/", 1)[1]: e["type"]
                                                         for e in fs.ls(docker_url(ref, p), detail=True)})
        got = listings[parent]
        names = got[1] if got[0] == "bytes" else {}
        if r.listed is None:
            ok = r.path not in names
        elif isinstance(r.expect, bytes):
            ok = names.get(r.path) == "file"
        else:
            ok = names.get(r.path) == ("directory" if r.listed == "dir" else "other")
        if not ok:
            wrong[r.path] = (r.listed, got)
    assert wrong == {}
    assert listings["."][0] == "bytes" and listings["etc"][0] == "bytes", "the two directories with bad links list"


def test_explorer_preview_shows_the_bytes_or_nothing(source):
    """read_preview of the merged view: the row's bytes, or no content for every error row."""
    client, ref = source
    wrong = {}
    for r in ROWS:
        data, how = read_preview(client, ref, None, r.path)
        ok = (data == r.expect and how["verification"]) if isinstance(r.expect, bytes) else (data, how) == (None, {})
        if not ok:
            wrong[r.path] = (data, how)
    assert wrong == {}


def test_explorer_file_list_and_selection(source):
    """The Files tab lists what the table lists; selecting a listed file shows its bytes, a link says what it is."""
    client, ref = source
    state = ExplorerState(client)
    assert state.resolve(ref) and state.load_files(), state.error
    listed = {f["path"]: f["type"] for f in state.files}
    for r in ROWS:
        if r.listed != SKIP:
            assert listed.get(r.path) == r.listed, r.path
    for r in ROWS:
        if r.listed in ("file", "symlink", "hardlink"):
            assert state.select_file(r.path), state.error
            info = state.file_info
            if r.listed == "file":
                assert info["content"] == r.expect.decode() and info["verification"], r.path
            else:
                assert info["content"] is None and ("symbolic" if r.listed == "symlink" else "hard") in info["note"]


def test_listings_show_the_same_names_and_types(source):
    """frames.image_files and ImageFS.entries: a name is listed exactly when the table lists it, with its type."""
    client, ref = source
    df = frames.image_files(client, ref)
    by_frame = dict(zip(df["path"], df["type"]))
    by_entries = {p: placed.entry.type for p, placed in ImageFS(client, ref).entries().items()}
    for r in ROWS:
        if r.listed == SKIP:
            continue
        assert by_frame.get(r.path) == r.listed, f"image_files: {r.path}"
        assert by_entries.get(r.path) == r.listed, f"ImageFS.entries: {r.path}"
    assert not any(p == "wd" or p.startswith(("wd/", "old/")) for p in by_frame), "a whited-out directory's children"


# -- the command line and the magic (registry only: both build a registry Client) --------------------

def _rx_env(tmp_path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    (tmp_path / "docker").mkdir(exist_ok=True)
    return {**base, "NO_PROXY": "127.0.0.1,localhost", "DOCKER_CONFIG": str(tmp_path / "docker"),
            "PYTHONPATH": str(ROOT)}


def test_rx_cat_subprocess(remote, tmp_path):
    """`rx cat REF PATH`: the bytes on stdout (exit 0), or exit 1 with the library's own error message."""
    client, ref = remote
    env = _rx_env(tmp_path)
    library = {r.path: outcome(lambda r=r: client.read_file(ref, r.path)) for r in ROWS}
    check("read_file", library)

    def run(row: Row):
        return subprocess.run([sys.executable, "-m", "registry_explorer", "cat", ref, row.path],
                              capture_output=True, env=env, cwd=ROOT, timeout=120)

    with ThreadPoolExecutor(max_workers=3) as pool:
        procs = dict(zip([r.path for r in ROWS], pool.map(run, ROWS)))
    wrong = {}
    for r in ROWS:
        p, want = procs[r.path], library[r.path]
        if want[0] == "bytes":
            ok = (p.returncode, p.stdout) == (0, want[1])
        else:
            ok = p.returncode == 1 and p.stdout == b"" and want[2] in " ".join(p.stderr.decode().split())
        if not ok:
            wrong[r.path] = (p.returncode, p.stdout[:80], p.stderr.decode()[-300:])
    assert wrong == {}


@pytest.fixture
def shell(remote):
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "registry_explorer")
    sh.user_ns["_rx_magic"].client = remote[0]  # the same client as the other doors (no user docker config)
    yield sh
    InteractiveShell.clear_instance()


def test_rx_magic_cat(shell, remote):
    """`%rx cat REF PATH` returns the bytes, or prints the library's error in one line and returns None."""
    client, ref = remote
    wrong = {}
    for r in ROWS:
        out = StringIO()
        with redirect_stdout(out):
            got = shell.run_line_magic("rx", f"cat {ref} {r.path}")
        if isinstance(r.expect, bytes):
            ok = got == r.expect
        else:
            want = outcome(lambda r=r: client.read_file(ref, r.path))
            ok = got is None and out.getvalue().startswith("rx: error: ") and want[2] in out.getvalue()
            ok = ok and expected(r, want)
        if not ok:
            wrong[r.path] = (got, out.getvalue()[-300:])
    assert wrong == {}
