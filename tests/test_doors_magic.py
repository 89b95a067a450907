"""`%rx` in IPython's InteractiveShell (no kernel): each verb returns a normal Python object."""

from __future__ import annotations

import io
import tarfile

import pandas as pd
import pytest
from helpers.clients import client_for
from IPython.core.interactiveshell import InteractiveShell

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.sandbox import samples_data
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shell(open_registry):
    push_image(open_registry.url, samples_data.build_data(), verify=open_registry.verify)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "registry_explorer")
    sh.user_ns["_rx_magic"].client = client_for(open_registry)  # no user docker config in tests
    yield sh
    InteractiveShell.clear_instance()


def rx_line(shell, line):
    return shell.run_line_magic("rx", line)


def test_load_ext_registers_rx(shell):
    assert "rx" in shell.magics_manager.magics["line"]


def test_verbs_return_objects(shell, open_registry, images):
    client = client_for(open_registry)
    data = f"{open_registry.host}/demo/data:1.0"
    multi = f"{open_registry.host}/{images['multi'].repository}:{images['multi'].tag}"
    got = rx_line(shell, f"files {data}")
    assert isinstance(got, pd.DataFrame) and got.equals(frames.image_files(client, data))
    layer1 = rx_line(shell, f"files {data} --layer 1")
    assert layer1.equals(frames.files(client, data, client.image(data).layers[1]))
    assert "data/parts/part-2.csv" in set(layer1["path"]) and "data/table.csv" not in set(layer1["path"])
    m = rx_line(shell, f"manifest {multi} --platform linux/arm64")
    assert isinstance(m, rx.Manifest) and m.digest == client.image(multi, "linux/arm64").digest
    assert isinstance(rx_line(shell, f"manifest {multi}"), rx.Index)
    assert rx_line(shell, f"digest {data}").digest == client.resolve(data).digest
    assert isinstance(rx_line(shell, f"config {data}"), rx.ImageConfig)
    assert rx_line(shell, f"ls {open_registry.host}/demo/data") == ["1.0"]
    assert "demo/data" in rx_line(shell, f"catalog {open_registry.host}")
    assert rx_line(shell, f"cat {data} data/table.csv") == samples_data.TABLE_CSV
    exchanges = rx_line(shell, f"trace {data}")
    assert exchanges and all(hasattr(e, "as_curl") for e in exchanges)


def test_crane_verbs_return_objects(shell, open_registry, tmp_path):
    """`%rx export REF` is the tar stream as bytes; `pull` the layout reference; `validate` its rows."""
    client = client_for(open_registry)
    data = f"{open_registry.host}/demo/data:1.0"
    with tarfile.open(fileobj=io.BytesIO(rx_line(shell, f"export {data}"))) as tar:
        assert set(tar.getnames()) == set(frames.image_files(client, data)["path"])
    assert rx_line(shell, f"export {data} {tmp_path / 'fs.tar'}") == tmp_path / "fs.tar"
    layout_ref = rx_line(shell, f"pull --format oci {data} {tmp_path / 'layout'}")
    assert rx.Layout(tmp_path / "layout").resolve(str(layout_ref)).digest == client.resolve(data).digest
    rows = rx_line(shell, f"validate {data}")
    image = client.image(data)
    assert all(r["ok"] for r in rows)
    assert {r["digest"] for r in rows} == {image.digest, image.config.digest, *(d.digest for d in image.layers)}
    assert rx_line(shell, f"manifest {data}").raw == client.manifest(data).raw


def test_rx_ref_shows_the_explorer(shell, open_registry):
    data = f"{open_registry.host}/demo/data:1.0"
    explorer = rx_line(shell, data)
    assert isinstance(explorer, rx.Explorer)
    assert explorer.state.descriptor is not None and explorer.error == ""
    assert explorer.state.descriptor.digest == client_for(open_registry).resolve(data).digest


def test_errors_print_one_line(shell, open_registry, capsys):
    assert rx_line(shell, f"digest {open_registry.host}/nothing/here:1") is None
    out = capsys.readouterr()
    assert out.out.startswith("rx: error: ") and out.out.count("\n") == 1
    assert rx_line(shell, "files") is None  # bad usage: click's message, no exception
    assert "Missing argument" in capsys.readouterr().err
