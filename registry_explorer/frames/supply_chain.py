"""The supply chain of an image as a table: signatures, attestations, SBOMs and other attached artifacts.

`supply_chain_frame` is pure (rows in, DataFrame out); `supply_chain` fetches the rows through a
Source first (`registry_explorer.supply.chain`). Decoded documents (provenance, SBOM packages,
signature payloads) are in `registry_explorer.supply`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..supply.chain import SUPPLY_COLUMNS, supply_chain_rows

__all__ = ["SUPPLY_COLUMNS", "supply_chain", "supply_chain_frame"]


def supply_chain_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per attached object: kind, type, found, subject, digest, size, media_type, manifest, verified,
    and `error` (None, or why the object the row stands for could not be read)."""
    df = pd.DataFrame([{c: r.get(c) for c in SUPPLY_COLUMNS} for r in rows], columns=SUPPLY_COLUMNS)
    df["size"] = df["size"].astype("Int64")
    df["verified"] = df["verified"].fillna(False).astype(bool)
    return df


def supply_chain(client, ref, *, public_key: Any = None) -> pd.DataFrame:
    """The supply chain of `ref` (fetched); with `public_key`, cosign signatures it verifies say verified=True."""
    return supply_chain_frame(supply_chain_rows(client, ref, public_key=public_key))
