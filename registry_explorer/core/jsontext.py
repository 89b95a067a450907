"""JSON from a server, parsed into values every later step can hold.

`json.loads` accepts two things no later step can (issue 21, class 7):
- nesting deeper than the interpreter's stack: it raises RecursionError, which is not a
  ValueError, so `except ValueError` around a parse let it escape;
- lone surrogates (`"\\ud800"`, or the bytes ED A0 80): RFC 8259 section 8.2 leaves them to the
  receiver, and Python keeps them as str, which then cannot be encoded as UTF-8 - a DataFrame
  column, Parquet, a terminal, an HTML page all fail on them far from the parse.
`loads` raises ValueError for the first and replaces the second by U+FFFD (as a UTF-8 decoder
does with bytes it cannot read). Digests are computed over the raw bytes, never over this value.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads"]

# A surrogate escape (\uD800-\uDFFF) or a surrogate encoded as UTF-8 (ED A0-BF xx): without
# either, json.loads cannot have produced a lone surrogate, and the walk below is skipped.
_MAYBE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_MAYBE_TEXT = re.compile("\\\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def loads(raw: bytes | bytearray | str) -> Any:
    """`json.loads(raw)`; ValueError for nesting too deep to parse; lone surrogates become U+FFFD."""
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested deeper than can be parsed") from None
    maybe = _MAYBE_TEXT if isinstance(raw, str) else _MAYBE_BYTES
    return _clean(doc) if maybe.search(raw) else doc


def _text(s: str) -> str:
    return _SURROGATE.sub(REPLACEMENT, s)


def _clean(doc: Any) -> Any:
    """`doc` with every string (keys included) free of lone surrogates; iterative, as deep as json parsed."""
    if isinstance(doc, str):
        return _text(doc)
    if not isinstance(doc, (dict, list)):
        return doc
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, str):
                    node[i] = _text(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        else:
            for k in list(node):
                v = node[k]
                if isinstance(k, str) and _SURROGATE.search(k):
                    del node[k]
                    k = _text(k)
                    node[k] = v
                if isinstance(v, str):
                    node[k] = _text(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    return doc
