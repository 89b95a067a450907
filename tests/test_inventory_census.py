"""rx.census(include=("packages",)): one row per installed package of every image, into Parquet, queryable in one line."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import packagedbs
from helpers.clients import client_for

import registry_explorer as rx
from registry_explorer.census_engine.run import DEFAULT_INCLUDE
from registry_explorer.frames.census_tables import CENSUS_COLUMNS
from registry_explorer.sandbox import samples_inventory
from registry_explorer.sandbox.push import push_image

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(open_registry):
    samples_inventory.seed(open_registry.url, auth=open_registry.auth, verify=open_registry.verify)
    legacy = [(p, "file", data, None) for p, data in packagedbs.rpm_legacy_headers().items()]
    image = samples_inventory.layered_image("legacy", "inventory/census-legacy", "v1",
                                            [(samples_inventory.tar_layer(legacy), "ADD legacy /")])
    push_image(open_registry.url, image, verify=open_registry.verify)
    return open_registry


def test_packages_only_when_asked(registry):
    assert "packages" not in DEFAULT_INCLUDE
    plain = rx.census(client_for(registry), registry.host, "demo/inventory", progress=False)
    with pytest.raises(AttributeError, match="did not include"):
        plain.table("packages")


def test_packages_table_equals_rx_packages_and_goes_to_parquet(registry, tmp_path):
    client = client_for(registry)
    census = rx.census(client, registry.host, ["demo/inventory", "inventory/census-legacy"],
                       include=("tags", "packages"), out=tmp_path / "census", progress=False)
    table = census.packages
    assert list(table.columns) == CENSUS_COLUMNS["packages"]
    for tag in samples_inventory.TAGS:
        ref = f"{registry.host}/{samples_inventory.REPOSITORY}:{tag}"
        mine = table[table.tag == tag].drop(columns=["repository", "tag", "manifest_digest", "platform"])
        want = rx.packages(client, ref)
        assert mine.reset_index(drop=True).astype(object).equals(want.astype(object)), tag
    # "Which images ship libssl3 3.0.11?" is one query over the Parquet dataset.
    parquet = pd.read_parquet(tmp_path / "census" / "packages")
    hits = parquet.query("name == 'libssl3' and version.str.startswith('3.0.11')", engine="python")
    assert hits["tag"].tolist() == ["1.0"] and hits["layer"].tolist() == [0]
    errors = census.errors
    legacy = errors[errors.repository == "inventory/census-legacy"]
    assert len(legacy) == 2 and legacy["error"].eq("UnsupportedDatabase").all()
    assert census.tags["repository"].nunique() == 2  # the unreadable databases did not stop the unit
