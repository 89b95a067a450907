"""Pairing image-config history with layers, on real multi-layer configs with empty_layer entries.

The expected (layer index, history index) pairs below were written by reading each fixture's JSON by
hand: history entries marked `"empty_layer": true` (ENV, CMD, VOLUME, LABEL...) made no layer, and the
others pair with rootfs.diff_ids / manifest layers in order. The created_by strings are read from the raw
JSON with the json module, never through registry_explorer, so a pairing bug cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.core import mediatypes as mt

REAL = Path(__file__).parent / "fixtures" / "real" / "config"

# fixture -> (media type, [(layer index, history index, a substring of that created_by, for readers)])
CASES = {
    "dockerhub-mysql-5.7-config.json": (mt.DOCKER_CONFIG, [
        (0, 0, "ADD file:dab9baf9"), (1, 2, "groupadd -r mysql"), (2, 3, "gnupg dirmngr"),
        (3, 5, "set -x"), (4, 6, "mkdir /docker-entrypoint-initdb.d"), (5, 7, "pwgen"),
        (6, 8, "key='A4A9406876FCBD3C456770C88C718D3B5072E1F5'"), (7, 11, 'echo "deb http://repo.mysql.com'),
        (8, 12, "echo mysql-community-server"), (9, 14, "COPY file:4b5f8335"),
        (10, 15, "ln -s usr/local/bin/docker-entrypoint.sh"),
    ]),
    "docker-18.09-classic-builder-config-15-history.json": (mt.DOCKER_CONFIG, [
        (0, 0, "ADD file:ce026b62"), (1, 2, "ADD file:139c3708"), (2, 3, "mkdir -p /root/example/really/nested"),
        (3, 4, "cp /somefile.txt /root/example/somefile1.txt"), (4, 5, "chmod 444"),
        (5, 6, "somefile2.txt"), (6, 7, "cp /somefile.txt /root/example/somefile3.txt"), (7, 8, "mv "),
        (8, 9, "/root/.saved.txt"), (9, 10, "rm -rf /root/example/"), (10, 11, "ADD dir:7ec14b81"),
        (11, 12, "saved.again1.txt"), (12, 13, "saved.again2.txt"), (13, 14, "chmod +x /root/saved.txt"),
    ]),
    "kaniko-config-author-zero-created.json": (mt.OCI_CONFIG, [
        (0, 0, "ADD file:ab8940a9"), (1, 2, "ADD README.md /somefile.txt"), (2, 3, "RUN mkdir -p"),
        (3, 4, "somefile1.txt"), (4, 5, "RUN chmod 444"), (5, 6, "somefile2.txt"), (6, 7, "somefile3.txt"),
        (7, 8, "RUN mv"), (8, 9, "/root/.saved.txt"), (9, 10, "RUN rm -rf"), (10, 11, "ADD .scripts/"),
        (11, 12, "saved.again1.txt"), (12, 13, "saved.again2.txt"), (13, 14, "RUN chmod +x"),
    ]),
    "regclient-buildkit-config-volume-labels-args.json": (mt.OCI_CONFIG, [
        (0, 0, "COPY base-a.txt /base.txt"), (1, 2, "COPY layer1.txt /layer1"), (2, 4, "COPY layer2.txt /layer2"),
    ]),
    # Windows' classic builder marks nothing empty and makes a layer for CMD: one entry per layer, paired directly.
    "dockerhub-hello-world-nanoserver-1809-windows-config.json": (mt.DOCKER_CONFIG, [
        (0, 0, "Apply image 10.0.17763.4377"), (1, 1, "COPY file:994f63bc"), (2, 2, "CMD"),
    ]),
}


def _load(name: str, media_type: str):
    raw = (REAL / name).read_bytes()
    cfg = rx.ImageConfig.parse(raw, rx.Descriptor(media_type, "sha256:" + hashlib.sha256(raw).hexdigest(), len(raw)))
    return cfg, json.loads(raw)


def _fake_layer(i: int) -> str:
    """A recognisable layer digest: layer 3 is sha256:0303...03."""
    return "sha256:" + f"{i:02x}" * 32


def _manifest(n_layers: int) -> rx.Manifest:
    """A schema2 manifest with n recognisable layers (the config files come without their manifests)."""
    doc = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
           "config": {"mediaType": mt.DOCKER_CONFIG, "digest": "sha256:" + "c" * 64, "size": 1},
           "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": _fake_layer(i), "size": 100 + i}
                      for i in range(n_layers)]}
    return rx.parse_manifest(json.dumps(doc).encode(), mt.DOCKER_MANIFEST)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layers_frame_pairs_each_layer_with_the_command_that_made_it(name):
    media_type, pairs = CASES[name][0], CASES[name][1]
    cfg, raw = _load(name, media_type)
    history = raw["history"]
    df = frames.layers(_manifest(len(pairs)), cfg)
    got = list(zip(df["index"], df["created_by"], df["diff_id"]))
    want = [(layer, history[h]["created_by"], raw["rootfs"]["diff_ids"][layer]) for layer, h, _ in pairs]
    assert got == want
    for (_, h, needle), created_by in zip(pairs, df["created_by"]):
        assert needle in created_by, (h, created_by)


@pytest.mark.parametrize("name", sorted(CASES))
def test_history_frame_gives_each_producing_entry_its_layer(name):
    media_type, pairs = CASES[name][0], CASES[name][1]
    cfg, raw = _load(name, media_type)
    by_history = {h: layer for layer, h, _ in pairs}
    df = frames.history(cfg, _manifest(len(pairs)))
    assert list(df["created_by"]) == [e.get("created_by") for e in raw["history"]]
    want = [(_fake_layer(by_history[i]), raw["rootfs"]["diff_ids"][by_history[i]]) if i in by_history else (None, None)
            for i in range(len(raw["history"]))]
    got = [(d if isinstance(d, str) else None, x if isinstance(x, str) else None)
           for d, x in zip(df["layer_digest"], df["diff_id"])]
    assert got == want


def test_base_layers_without_history_are_left_unpaired():
    """Five layers but three producing entries (a base from another builder): the last three pair, newest last."""
    cfg, raw = _load("regclient-buildkit-config-volume-labels-args.json", mt.OCI_CONFIG)
    df = frames.layers(_manifest(5), cfg)
    h = raw["history"]
    assert [c if isinstance(c, str) else None for c in df["created_by"]] == [
        None, None, h[0]["created_by"], h[2]["created_by"], h[4]["created_by"]]
