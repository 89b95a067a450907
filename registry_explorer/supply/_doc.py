"""What every supply-chain decoder shares: the named size limits, checked JSON loading, typed getters.

The documents decoded here come from registries, so they are hostile until checked: each decoder
refuses bytes over its named limit (TooLarge) before parsing, and anything that is not the shape
the spec gives becomes InvalidAttestation, never a KeyError or TypeError.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..core import jsontext
from ..core.errors import InvalidAttestation, TooLarge

# A DSSE envelope or in-toto statement: provenance is KBs; SBOM statements of large images reach
# tens of MB (syft on a full distro image), so 32 MiB keeps them and still bounds a hostile one.
STATEMENT_LIMIT = 32 << 20
# An SBOM document (SPDX or CycloneDX JSON), same reasoning as statements: they are the big ones.
SBOM_LIMIT = 32 << 20
# A cosign simple-signing payload is a few hundred bytes; optional annotations may add some KBs.
SIMPLE_SIGNING_LIMIT = 256 << 10
# A manifest (attestation manifest, cosign signature manifest, index): the registry-side limit.
MANIFEST_DOC_LIMIT = 4 << 20
# A PEM certificate or chain in a cosign annotation: a chain of three is ~3 KB.
CERTIFICATE_LIMIT = 64 << 10
# Rows one document may produce (SBOM packages, relationships, materials): a million is beyond any
# real SBOM (the largest seen have ~100k packages) and stops a document of tiny objects.
ROWS_LIMIT = 1_000_000
# CycloneDX components nest; real ones nest a few levels, deeper is an attack on the stack.
NESTING_LIMIT = 64


def check_size(raw: Any, limit: int, what: str) -> bytes:
    """`raw` as bytes, refused (TooLarge) when longer than `limit`; only bytes/bytearray/str are accepted."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise InvalidAttestation(f"expected bytes, got {type(raw).__name__}", what=what)
    raw = bytes(raw)
    if len(raw) > limit:
        raise TooLarge(what, limit, len(raw))
    return raw


def load_json(raw: Any, limit: int, what: str) -> tuple[bytes, dict]:
    """(bytes, parsed JSON object) of a document under `limit`; InvalidAttestation when not a JSON object."""
    data = check_size(raw, limit, what)
    try:
        doc = jsontext.loads(data)
    except ValueError as exc:
        raise InvalidAttestation(f"not valid JSON: {str(exc)[:120]}", what=what) from None
    if not isinstance(doc, dict):
        raise InvalidAttestation("not a JSON object", what=what)
    return data, doc


def b64decode(value: Any, what: str) -> bytes:
    """Standard or URL-safe base64 (DSSE allows either, RFC 4648), padding optional."""
    if not isinstance(value, str):
        raise InvalidAttestation("expected a base64 string", what=what)
    text = value.strip()
    try:
        text.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidAttestation("base64 text has non-ASCII characters", what=what) from None
    padded = text + "=" * (-len(text) % 4)
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(padded.encode())
        return base64.b64decode(padded.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAttestation("not valid base64", what=what) from None


def text(value: Any) -> str | None:
    """A string field or None (numbers, lists and objects where a string belongs are dropped)."""
    return value if isinstance(value, str) else None


def obj(value: Any) -> dict:
    """A JSON object field, or {} when absent or of another type."""
    return value if isinstance(value, dict) else {}


def items(value: Any, what: str) -> list:
    """A JSON array field ([] when absent or null), bounded by ROWS_LIMIT."""
    if not isinstance(value, list):
        return []
    if len(value) > ROWS_LIMIT:
        raise TooLarge(what, ROWS_LIMIT, len(value), hint=" (counted in entries)")
    return value


def digest_map(value: Any) -> dict[str, str]:
    """An in-toto DigestSet {"sha256": "<hex>"} with only string keys and values kept."""
    return {k: v for k, v in obj(value).items() if isinstance(k, str) and isinstance(v, str)}


def compact(value: Any, limit: int = 2000) -> str:
    """A JSON value as one short line for a table cell (strings as they are, the rest as JSON)."""
    if isinstance(value, str):
        out = value
    else:
        try:
            out = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (ValueError, TypeError, RecursionError):
            out = repr(value)
    return out if len(out) <= limit else out[:limit] + "…"


def frame(rows: list[dict], columns: list[str]):
    """A DataFrame with exactly `columns` (pandas imported here, only when a frame is asked for)."""
    import pandas as pd  # import time: decoding needs no pandas; only the frame does

    return pd.DataFrame(rows, columns=columns)
