"""docker:// through fsspec, pandas and Dask against a real registry (registry_explorer/doors/dockerfs.py)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.core.errors import PathNotFound
from registry_explorer.doors.dockerfs import DockerFileSystem, ReadOnly
from registry_explorer.imagefs.filesystem import ImageFS
from registry_explorer.sandbox import samples_data
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def data_registry(open_registry):
    """The open registry with the sandbox's demo/data:1.0 pushed to it."""
    push_image(open_registry.url, samples_data.build_data(), verify=open_registry.verify)
    return open_registry


@pytest.fixture
def fs(data_registry):
    # The entry point is what users get (a subprocess test below proves it); in-process, this
    # checkout's class is registered explicitly because the editable install may be another checkout's.
    fsspec.register_implementation("docker", DockerFileSystem, clobber=True)
    return fsspec.filesystem("docker", client=client_for(data_registry), skip_instance_cache=True)


def url(reg, rest=""):
    return f"docker://{reg.host}/demo/data:1.0{rest}"


def test_read_csv_returns_the_sandbox_table(fs, data_registry):
    got = pd.read_csv(url(data_registry, "/data/table.csv"), storage_options={"client": fs.client})
    assert got.equals(pd.read_csv(io.BytesIO(samples_data.TABLE_CSV)))
    assert list(got["city"]) == ["Lisbon", "Porto", "Madrid", "Paris"]


def test_dask_reads_several_csvs_of_one_image(fs, data_registry):
    import dask.dataframe as dd  # a test dependency: never skipped
    # Client settings, not a Client: Dask pickles the filesystem (a Client holds locks and sessions).
    ddf = dd.read_csv(url(data_registry, "/data/parts/*.csv"), storage_options={"docker_config": {}})
    assert ddf.npartitions == 3  # one partition per file: three files were found and read
    got = ddf.compute().sort_values("id").reset_index(drop=True)
    want = pd.concat([pd.read_csv(io.BytesIO(b)) for b in samples_data.PARTS.values()]).reset_index(drop=True)
    assert got.equals(want)


def test_ls_catalog_tags_and_directories(fs, data_registry):
    host = data_registry.host
    assert f"{host}/demo/data" in fs.ls(f"docker://{host}", detail=False)
    assert fs.ls(f"docker://{host}/demo/data", detail=False) == [f"{host}/demo/data:1.0"]
    top = fs.ls(url(data_registry, "/data"), detail=True)
    names = {e["name"].rsplit("/", 1)[1]: e for e in top}
    # layer 2's whiteout removed draft.csv; notes.txt is layer 2's version
    assert set(names) == {"numbers.txt", "notes.txt", "parts", "table.csv"}
    assert names["parts"]["type"] == "directory"
    assert names["table.csv"]["size"] == len(samples_data.TABLE_CSV)
    assert names["notes.txt"]["layer_index"] == 1
    assert fs.cat_file(url(data_registry, "/data/notes.txt")) == b"second version\n"


def test_find_glob_exists_info(fs, data_registry):
    host = data_registry.host
    parts = fs.glob(url(data_registry, "/data/parts/*.csv"))
    assert parts == [f"{host}/demo/data:1.0/{p}" for p in sorted(samples_data.PARTS)]
    found = fs.find(url(data_registry, "/data"))
    assert f"{host}/demo/data:1.0/data/numbers.txt" in found and len(found) == 6
    assert fs.exists(url(data_registry, "/data/table.csv"))
    assert not fs.exists(url(data_registry, "/data/draft.csv"))  # whited out
    assert not fs.exists(f"docker://{host}/demo/nothing-here")
    assert not fs.exists(f"docker://{host}/demo/data:no-such-tag/x")
    assert fs.info(url(data_registry))["type"] == "directory"
    # a symlink is followed inside the image
    assert fs.cat_file(url(data_registry, "/latest")) == samples_data.TABLE_CSV
    with pytest.raises(FileNotFoundError):
        fs.info(url(data_registry, "/data/draft.csv"))
    with pytest.raises(FileNotFoundError):
        fs.ls(f"docker://{host}/demo/nothing-here")


def test_ranges_and_seekable_open(fs, data_registry):
    path = url(data_registry, "/data/numbers.txt")
    n = samples_data.NUMBERS
    assert fs.cat_file(path, start=90, end=120) == n[90:120]
    assert fs.cat_file(path, start=-18) == n[-18:]
    with fs.open(path, "rb") as f:
        assert f.seekable() and f.readable()
        f.seek(len(n) - 9)
        assert f.read() == b"00039999\n"
        f.seek(9)
        assert f.read(9) == b"00000001\n"
    with fs.open(path, "r") as f:  # text mode over the same binary file
        assert f.readline() == "00000000\n"


def test_a_given_client_is_never_swapped_for_another(data_registry):
    a, b = client_for(data_registry), client_for(data_registry)
    assert repr(a) == repr(b)  # what fsspec's instance cache keys on
    assert DockerFileSystem(client=a).client is a
    assert DockerFileSystem(client=b).client is b


def test_writes_are_refused(fs, data_registry):
    path = url(data_registry, "/data/new.csv")
    for call in (lambda: fs.open(path, "wb"), lambda: fs.pipe_file(path, b"x"), lambda: fs.rm(path),
                 lambda: fs.mkdir(path), lambda: fs.touch(path)):
        with pytest.raises(ReadOnly, match="read-only"):
            call()
    assert issubclass(ReadOnly, rx.RegistryExplorerError) and issubclass(ReadOnly, PermissionError)


def test_small_files_are_read_once_then_served_verified_from_memory(data_registry):
    """Ten ranged reads of one small file (what pandas does) cost one blob request in all, not one each;
    the later reads come from memory with the chain that verified the first; a second file of the same
    (now indexed) layer costs one Range request."""
    client = client_for(data_registry)
    files = ImageFS(client, f"{data_registry.host}/demo/data:1.0")
    files.info("data/table.csv")  # resolving it indexes both layers (table.csv is in the base layer)

    def blob_exchanges():
        return [e for e in client.trace if e.purpose == "blob"]

    before = len(blob_exchanges())
    for lo in range(0, 300, 30):
        assert files.read("data/numbers.txt", lo, lo + 30) == samples_data.NUMBERS[lo:lo + 30]
    new = blob_exchanges()[before:]
    assert len(new) == 1 and "Range" in new[0].request_headers, [e.request_headers for e in new]
    with files.open("data/numbers.txt") as again:
        assert (again.requests, again.bytes_moved) == (0, 0), "served from memory: nothing moved"
        assert again.verification == "verified-index" and again.read() == samples_data.NUMBERS
    before = len(blob_exchanges())
    part = "data/parts/part-0.csv"
    assert files.read_file(part) == samples_data.PARTS[part]
    new = blob_exchanges()[before:]
    assert len(new) == 1 and "Range" in new[0].request_headers, "a second file of the layer: one Range request"
    with pytest.raises(PathNotFound):
        files.read("data/draft.csv")


def test_docker_reads_go_through_the_one_image_filesystem(data_registry):
    """`docker://` gives the bytes and the errors `read_file` gives, because both are `ImageFS`."""
    client = client_for(data_registry)
    fs = DockerFileSystem(client=client, platform="linux/amd64", skip_instance_cache=True)
    ref = f"{data_registry.host}/demo/data:1.0"
    assert fs.cat_file(url(data_registry, "/data/table.csv"), start=5) == client.read_file(ref, "data/table.csv")[5:]
    for path in ("data/draft.csv", "data"):
        with pytest.raises(Exception) as via_docker:
            fs.cat_file(url(data_registry, "/" + path))
        with pytest.raises(Exception) as via_client:
            client.read_file(ref, path)
        assert type(via_docker.value) is type(via_client.value)
        assert isinstance(via_docker.value, rx.RegistryExplorerError)


def test_entry_point_needs_no_import(data_registry, tmp_path):
    """pd.read_csv("docker://...") in a fresh interpreter that never imports registry_explorer.

    The entry point is read from pyproject.toml and installed as a dist-info of its own, as pip would.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        from pip._vendor import tomli as tomllib
    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["fsspec.specs"]
    dist = tmp_path / "rx_doors_probe-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rx-doors-probe\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[fsspec.specs]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    script = ("import sys, pandas as pd\n"
              f"df = pd.read_csv({url(data_registry, '/data/table.csv')!r})\n"
              "assert 'registry_explorer.doors.dockerfs' in sys.modules\n"
              "print(df.to_json())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert pd.read_json(io.StringIO(proc.stdout)).equals(pd.read_csv(io.BytesIO(samples_data.TABLE_CSV)))
