"""rx.packages on images pushed to a real registry, row for row with the package managers' own listings.

The layers hold databases the real tools wrote (tests/helpers/packagedbs*.py: mmdebstrap + dpkg, rpmbuild +
rpm, pip, npm; apk and Java from their documentation); layer attribution is checked on images whose layers
rpm and pip wrote step by step, three installs and a removal (helpers/packagedbs_layers.py). Requests are
counted at a proxy in front of the registry (helpers/proxy.py).
"""

from __future__ import annotations

import random

import pytest
from helpers import packagedbs
from helpers.packagedbs_layers import REMOVED_RPM, REMOVED_WHEEL, pip_layers, rpm_layers
from helpers.proxy import FaultProxy

import registry_explorer as rx
from registry_explorer.frames.inventory_tables import PACKAGE_COLUMNS, errors_frame
from registry_explorer.inventory.python_dists import canonical_name
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.samples_inventory import layered_image, tar_layer

pytestmark = pytest.mark.integration
pytest_plugins = ["helpers.inventory_fixtures"]

TREES = ["dpkg_minbase", "dpkg_removed", "dpkg_status_d", "dpkg_states", "rpm_sqlite", "python_site", "npm_tree",
         "java_jars", "apk_installed"]
BASE = (tar_layer([("etc", "dir", b"", None), ("etc/os-release", "file", b"ID=rx-test\n", None)]), "ADD base /")


def _push(reg, name: str, layers: list[tuple[bytes, str]]) -> str:
    image = layered_image(name, f"inventory/{name.replace('_', '-')}", "v1", layers)
    push_image(reg.url, image, auth=reg.auth, verify=reg.verify)
    return f"{reg.host}/{image.repository}:v1"


def _client(reg=None, *, host=None, cache=False) -> rx.Client:
    return rx.Client(insecure=(host or reg.host,), docker_config={}, cache=cache)


def _rows(df) -> list[tuple]:
    return sorted((r.ecosystem, r.name, r.version, r.architecture) for r in df.itertuples())


def _truth(rows) -> list[tuple]:
    return sorted(tuple(r) for r in rows)


@pytest.mark.parametrize("name", TREES)
def test_packages_equal_the_package_managers_listing(name, request, open_registry):
    """name, version, architecture of every installed package, row for row; the tree's layer and build step."""
    tree = request.getfixturevalue(name)
    ref = _push(open_registry, name, [BASE, (tree.tar_bytes(), f"RUN install {name}")])
    df = rx.packages(_client(open_registry), ref)
    assert list(df.columns) == PACKAGE_COLUMNS
    assert tree.truth and _rows(df) == _truth(tree.truth)
    assert set(df["layer"]) == {1} and set(df["created_by"]) == {f"RUN install {name}"}
    assert {d.split("!/")[0] for d in df["database"]} <= set(tree.databases)
    assert df.attrs["errors"] == [] and df.attrs["layers"] == 2


@pytest.mark.parametrize("name", ["dpkg_minbase", "dpkg_status_d", "rpm_sqlite", "apk_installed"])
def test_source_package_and_licence_as_the_tool_says(name, request, open_registry):
    tree = request.getfixturevalue(name)
    df = rx.packages(_client(open_registry), _push(open_registry, f"{name}-src", [(tree.tar_bytes(), "ADD db /")]))
    by_row = {(r.ecosystem, r.name, r.version, r.architecture): r for r in df.itertuples()}
    for row, source in tree.sources.items():
        if source and source.endswith(".src.rpm"):  # rpm prints the source rpm file; we keep its name
            source = source[: -len(".src.rpm")].rsplit("-", 2)[0]
        assert by_row[tuple(row)].source_package == source, row
    for row, licence in tree.licenses.items():
        assert by_row[tuple(row)].license == licence, row


def test_every_ecosystem_in_one_image_each_in_its_layer(request, open_registry):
    trees = [request.getfixturevalue(n) for n in ("dpkg_minbase", "rpm_sqlite", "python_site", "npm_tree", "java_jars",
                                                  "apk_installed")]
    ref = _push(open_registry, "every", [BASE] + [(t.tar_bytes(), f"step {i}") for i, t in enumerate(trees, 1)])
    df = rx.packages(_client(open_registry), ref)
    assert _rows(df) == sorted(r for t in trees for r in _truth(t.truth))
    for i, tree in enumerate(trees, 1):
        eco = tree.truth[0].ecosystem
        assert set(df[df.ecosystem == eco]["layer"]) == {i}, eco
    only = rx.packages(_client(open_registry), ref, ecosystems=("deb", "apk"))
    assert set(only["ecosystem"]) == {"deb", "apk"}
    assert only.attrs["requests"] < df.attrs["requests"]  # fewer databases read
    with pytest.raises(ValueError, match="unknown ecosystems"):
        rx.packages(_client(open_registry), ref, ecosystems=("gem",))


def test_layer_attribution_rpm_three_installs_and_a_removal(tmp_path, open_registry):
    """rpm wrote four copies of rpmdb.sqlite; each package is attributed to the layer that installed it."""
    steps = rpm_layers(tmp_path)
    ref = _push(open_registry, "rpm-steps", steps.layers)
    df = rx.packages(_client(open_registry), ref)
    assert _rows(df) == _truth(steps.truth)
    assert REMOVED_RPM not in set(df["name"])
    for r in df.itertuples():
        assert r.layer == steps.installed_in[r.name], (r.name, r.layer)
        assert r.created_by == steps.layers[r.layer][1]
    (db,) = df.attrs["databases"]
    assert db["path"] == "var/lib/rpm/rpmdb.sqlite" and db["layers_read"] == [3, 2, 1, 0]


def test_layer_attribution_removed_then_installed_again(tmp_path, open_registry):
    """Installed, removed, installed again: the package is the later layer's, not the first's."""
    steps = rpm_layers(tmp_path, [("-i", ["rx-alpha", "rx-beta"]), ("-e", ["rx-alpha"]), ("-i", ["rx-gamma-tools"]),
                                  ("-i", ["rx-alpha"])])
    df = rx.packages(_client(open_registry), _push(open_registry, "rpm-again", steps.layers))
    assert _rows(df) == _truth(steps.truth)
    assert dict(zip(df["name"], df["layer"])) == {"rx-alpha": 3, "rx-beta": 0, "rx-gamma-tools": 2}


def test_layer_attribution_pip_three_installs_and_an_uninstall(tmp_path, open_registry):
    """pip wrote one dist-info per layer and its uninstall became whiteouts: per-file attribution."""
    steps = pip_layers(tmp_path)
    ref = _push(open_registry, "pip-steps", steps.layers)
    df = rx.packages(_client(open_registry), ref)
    assert _rows(df) == _truth(steps.truth)
    assert canonical_name(REMOVED_WHEEL) not in {canonical_name(n) for n in df["name"]}
    for r in df.itertuples():
        assert r.layer == steps.installed_in[canonical_name(r.name)], (r.name, r.layer)


def test_dpkg_attribution_across_rewrites_of_status(dpkg_minbase, dpkg_removed, open_registry):
    """minbase's status, then dpkg -r e2fsprogs's: the removed package is gone, the rest stay in layer 0."""
    status = "var/lib/dpkg/status"
    ref = _push(open_registry, "dpkg-steps", [(tar_layer([(status, "file", dpkg_minbase.files[status], None)]), "base"),
                                              (tar_layer([(status, "file", dpkg_removed.files[status], None)]), "dpkg -r")])
    df = rx.packages(_client(open_registry), ref)
    assert _rows(df) == _truth(dpkg_removed.truth)
    assert "e2fsprogs" not in set(df["name"]) and set(df["layer"]) == {0}
    assert df.attrs["databases"][0]["layers_read"] == [1, 0]


def test_distroless_status_d_attribution_and_whiteout(dpkg_status_d, open_registry):
    files = sorted(p for p in dpkg_status_d.databases if not p.endswith(".md5sums"))
    first, second, gone = files[:3], files[3:6], files[0]
    layers = [(tar_layer([(p, "file", dpkg_status_d.files[p], None) for p in first]), "first"),
              (tar_layer([(p, "file", dpkg_status_d.files[p], None) for p in second]), "second"),
              (tar_layer([(gone, "whiteout", b"", None)]), "remove one")]
    df = rx.packages(_client(open_registry), _push(open_registry, "status-d", layers))
    assert sorted(df["database"]) == sorted(first[1:] + second)
    assert {d: layer for d, layer in zip(df["database"], df["layer"])} == {**dict.fromkeys(first[1:], 0),
                                                                           **dict.fromkeys(second, 1)}


def test_unreadable_databases_are_errors_not_failures(dpkg_minbase, open_registry):
    """rpm's Berkeley DB and ndb say "not read", a damaged apk database says why; dpkg is still listed."""
    legacy = packagedbs.rpm_legacy_headers()
    members = [(p, "file", data, None) for p, data in legacy.items()]
    members += [("lib/apk/db/installed", "file", b"P:ok\nV:1\n\nnot a field line\n", None),
                ("var/lib/dpkg/status", "file", dpkg_minbase.files["var/lib/dpkg/status"], None)]
    df = rx.packages(_client(open_registry), _push(open_registry, "unreadable", [(tar_layer(members), "mixed")]))
    assert _rows(df) == _truth(dpkg_minbase.truth)
    errors = errors_frame(df).set_index("database")
    assert errors.loc["var/lib/rpm/Packages", "format"] == "rpm-bdb"
    assert errors.loc["usr/lib/sysimage/rpm/Packages.db", "format"] == "rpm-ndb"
    assert "not read" in errors.loc["var/lib/rpm/Packages", "message"]
    assert errors.loc["lib/apk/db/installed", "error"] == "InvalidManifest"
    assert set(errors["layer"]) == {0}


def test_a_database_past_its_limit_is_refused_unread(dpkg_minbase, open_registry, tmp_path, monkeypatch):
    """The index knows the file's size: a hostile 3 MiB status (limit lowered to 1 MiB here) is not fetched."""
    from registry_explorer.inventory import dpkg

    status = dpkg_minbase.files["var/lib/dpkg/status"]
    big = (status + b"\n") * (3 * (1 << 20) // len(status) + 1)
    ref = _push(open_registry, "too-big", [(tar_layer([("var/lib/dpkg/status", "file", big, None)]), "big status")])
    rx.packages(_client(open_registry, cache=tmp_path), ref)  # the layer's index, built once
    monkeypatch.setattr(dpkg, "MAX_TEXT_DATABASE_BYTES", 1 << 20)
    df = rx.packages(_client(open_registry, cache=tmp_path), ref)
    assert len(df) == 0 and df.attrs["databases"] == []
    (error,) = df.attrs["errors"]
    assert error["error"] == "TooLarge" and error["layer"] == 0 and "not read" in error["message"]
    assert df.attrs["bytes_moved"] < 64 << 10  # the manifest and config, not the 3 MiB


def test_symlinked_rpm_directory_and_wal_left_behind(rpm_sqlite, open_registry):
    """Fedora's var/lib/rpm -> ../../usr/lib/sysimage/rpm: read once, by its real path; a non-empty WAL is named."""
    db = rpm_sqlite.files["var/lib/rpm/rpmdb.sqlite"]
    members = [("usr/lib/sysimage/rpm/rpmdb.sqlite", "file", db, None),
               ("usr/lib/sysimage/rpm/rpmdb.sqlite-wal", "file", b"\x37\x7f\x06\x82" + bytes(28), None),
               ("var/lib/rpm", "symlink", "../../usr/lib/sysimage/rpm", None)]
    df = rx.packages(_client(open_registry), _push(open_registry, "fedora-rpm", [(tar_layer(members), "fedora")]))
    assert _rows(df) == _truth(rpm_sqlite.truth)
    assert set(df["database"]) == {"usr/lib/sysimage/rpm/rpmdb.sqlite"}
    (wal,) = df.attrs["errors"]
    assert wal["error"] == "UncheckpointedWal" and "32 bytes" in wal["message"]


def test_warm_requests_counted_at_a_proxy(request, open_registry, tmp_path):
    """With the layer indexes known (a second client on the same cache), at most 2 requests per database read."""
    trees = [request.getfixturevalue(n) for n in ("dpkg_minbase", "rpm_sqlite", "python_site", "apk_installed")]
    # Incompressible bytes beside the databases, as real layers hold (libraries, binaries): a pull moves them.
    big = random.Random(25).randbytes(4 << 20)
    layers = [(tar_layer([(f"{p}", "file", data, None) for p, data in t.files.items()]
                         + [(f"usr/lib/big-{i}.so", "file", big[i:], None)]), f"step {i}") for i, t in enumerate(trees)]
    _push(open_registry, "warm", layers)
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as proxy:
        ref = f"{proxy.host}/inventory/warm:v1"
        cold = rx.packages(_client(host=proxy.host, cache=tmp_path), ref)
        cold_requests = len(proxy.requests)
        proxy.requests.clear()
        warm = rx.packages(_client(host=proxy.host, cache=tmp_path), ref)
        seen = list(proxy.requests)
    reads = sum(len(d["layers_read"]) for d in warm.attrs["databases"])
    blob_gets = [r for r in seen if "/blobs/" in r["path"]]
    assert _rows(warm) == _rows(cold)
    # The meter counts what the proxy saw, plus a new client's one https probe (a TLS hello the proxy cannot read).
    assert cold.attrs["requests"] - cold_requests in (0, 1) and warm.attrs["requests"] - len(seen) in (0, 1)
    print(f"cold: {cold_requests} requests, {cold.attrs['bytes_moved']} bytes; warm: {len(seen)} requests "
          f"({len(blob_gets)} ranged blob reads for {reads} database reads), {warm.attrs['bytes_moved']} bytes; "
          f"pull: {warm.attrs['pull_bytes']} bytes")
    assert all(r["headers"].get("Range") for r in blob_gets)  # no full layer: ranged reads only
    assert len(blob_gets) <= 2 * reads and len(seen) <= 2 * reads + 2, (len(seen), reads)
    assert warm.attrs["bytes_moved"] < warm.attrs["pull_bytes"] / 10 and cold.attrs["bytes_moved"] >= warm.attrs["pull_bytes"]


def test_a_layer_without_random_access_is_streamed_once_for_all_its_databases(python_site, open_registry, tmp_path):
    """One zstd frame cannot be entered in the middle (podman's --compression-format zstd): its many METADATA
    files are read from one verified stream, not one stream each."""
    from registry_explorer.sandbox.samples import OCI_LAYER_ZSTD, zstd_bytes

    image = layered_image("one-frame", "inventory/one-frame", "v1", [(python_site.tar_bytes(), "pip install")],
                          compress=zstd_bytes, media_type=OCI_LAYER_ZSTD)
    push_image(open_registry.url, image, verify=open_registry.verify)
    with FaultProxy(open_registry.url, upstream_verify=open_registry.verify) as proxy:
        ref = f"{proxy.host}/inventory/one-frame:v1"
        rx.packages(_client(host=proxy.host, cache=tmp_path), ref)  # indexes the layer (stream-only)
        proxy.requests.clear()
        df = rx.packages(_client(host=proxy.host, cache=tmp_path), ref)
        layer_gets = [r for r in proxy.requests if r["path"].endswith(image.extra["layers"][0].digest)]
    assert _rows(df) == _truth(python_site.truth) and len(df.attrs["databases"]) > 3
    assert len(layer_gets) == 1 and not layer_gets[0]["headers"].get("Range")


def test_the_sbom_next_to_the_installed_packages(open_registry):
    """The sandbox's 1.1 SBOM: right about most packages, stale about libssl3, one extra, one forgotten."""
    from registry_explorer.sandbox import samples_inventory

    refs = samples_inventory.seed(open_registry.url, auth=open_registry.auth, verify=open_registry.verify)
    df = rx.packages(_client(open_registry), refs["inventory-1.1"], compare_sbom=True)
    status = dict(zip(df["name"], df["status"]))
    assert status["libssl3"] == "version differs" and status["charset-normalizer"] == "only in SBOM"
    assert status["urllib3"] == "only installed"
    assert {s for n, s in status.items() if n not in ("libssl3", "charset-normalizer", "urllib3")} == {"same"}
    row = df[df.name == "libssl3"].iloc[0]
    assert (row.version, row.sbom_version, row.layer) == ("3.0.13-1~deb12u1", "3.0.11-1~deb12u2", 1)
    assert df.attrs["sbom"]["format"] == "spdx" and df.attrs["sbom"]["found"] == "referrers tag schema"
    none = rx.packages(_client(open_registry), refs["inventory-1.0"], compare_sbom=True)
    assert none.attrs["sbom"] is None and set(none["status"]) == {"only installed"}
