"""The sandbox's data image (`demo/data:1.0`): CSV files to read with pandas and Dask through `docker://`.

Deterministic like every sample (samples.py): fixed tar metadata, gzip mtime 0, fixed content.
Two layers, so the merged filesystem matters: layer 1 writes the table and two parts, layer 2
adds a third part, replaces `data/notes.txt` and removes `data/draft.csv` with a whiteout.
"""

from __future__ import annotations

from .samples import CREATED, OCI_LAYER_GZIP, Entry, TestImage, _layer, _oci_image

# The table `pd.read_csv("docker://<sandbox>/demo/data:1.0/data/table.csv")` returns.
TABLE_CSV = b"""city,country,population
Lisbon,PT,545923
Porto,PT,231800
Madrid,ES,3332035
Paris,FR,2102650
"""

# data/parts/*.csv: one table split in three files with the same columns, for dask's globbing.
PARTS = {
    "data/parts/part-0.csv": b"id,value\n0,1.5\n1,2.5\n",
    "data/parts/part-1.csv": b"id,value\n2,3.5\n3,4.5\n4,5.5\n",
    "data/parts/part-2.csv": b"id,value\n5,6.5\n",
}
# Big enough that a ranged read inside it differs from reading it whole (and spans several blocks).
NUMBERS = b"".join(b"%08d\n" % i for i in range(40_000))

REPOSITORY, TAG = "demo/data", "1.0"


def build_data() -> TestImage:
    """The `demo/data:1.0` image."""
    layer1, diff1 = _layer(
        [
            Entry("data", "dir"),
            Entry("data/table.csv", data=TABLE_CSV),
            Entry("data/draft.csv", data=b"a,b\n1,2\n"),
            Entry("data/notes.txt", data=b"first version\n"),
            Entry("data/parts", "dir"),
            Entry("data/parts/part-0.csv", data=PARTS["data/parts/part-0.csv"]),
            Entry("data/parts/part-1.csv", data=PARTS["data/parts/part-1.csv"]),
            Entry("data/numbers.txt", data=NUMBERS),
            Entry("latest", "symlink", target="data/table.csv"),
        ],
        OCI_LAYER_GZIP,
    )
    layer2, diff2 = _layer(
        [
            Entry("data", "dir"),
            Entry("data/.wh.draft.csv"),
            Entry("data/notes.txt", data=b"second version\n"),
            Entry("data/parts", "dir"),
            Entry("data/parts/part-2.csv", data=PARTS["data/parts/part-2.csv"]),
        ],
        OCI_LAYER_GZIP,
    )
    config = {
        "created": CREATED, "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "WorkingDir": "/data"},
        "rootfs": {"type": "layers", "diff_ids": [diff1, diff2]},
        "history": [
            {"created": CREATED, "created_by": "COPY data/ /data/"},
            {"created": CREATED, "created_by": "COPY part-2.csv /data/parts/ && rm /data/draft.csv"},
        ],
    }
    image = _oci_image("data", config, [layer1, layer2], [diff1, diff2])
    image.repository, image.tag = REPOSITORY, TAG
    image.push_order = [(TAG, image.root)]
    return image


def build_images() -> dict[str, TestImage]:
    """This module's samples, keyed as `sandbox.SAMPLES` names them."""
    return {"data": build_data()}
