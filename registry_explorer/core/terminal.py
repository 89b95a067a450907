"""Text for a terminal: control characters made visible, as `ls -b` and `git` (core.quotePath) do.

A server chooses tag names, repository names, file names in layers, error bodies and header values.
Written raw to a terminal, `\\x1b]0;pwned\\x07` retitles the window, `\\x1b[2J` clears it, a bidi
override reverses what the reader sees, and a `\\r` or `\\n` forges a line of its own. `visible`
shows each such character as an escape (`\\x1b`, `\\n`, `\\u202e`) and leaves every other
character, UTF-8 text included, as it is. Every terminal writer of the doors uses it (`rx` text,
table and CSV output, the `rx: error:` line, `%rx`'s printed lines); JSON output needs nothing,
since the JSON encoder already escapes them.
"""

from __future__ import annotations

import re
from typing import Any

from .redact import redact_text

# C0 controls, DEL and C1 controls; invisible format characters that reorder or hide text (bidi
# embeddings/overrides/isolates, zero-width characters, the BOM); the Unicode line and paragraph
# separators; and lone surrogates (bytes that were not UTF-8, decoded with surrogateescape).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_SPACE = re.compile(r"[ \t\r\n]+")


def _escape(m: re.Match) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any) -> str:
    """`text` with every control character shown as an escape; None is ''."""
    s = "" if text is None else str(text)
    return _CONTROL.sub(_escape, s)


def shown_line(text: Any) -> str:
    """One line for a terminal from any message: secrets redacted, runs of spaces, tabs and newlines
    joined into one space (a message stays one line), every other control character visible."""
    return visible(_SPACE.sub(" ", redact_text(text)).strip())
