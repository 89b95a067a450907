"""Issue 21, class 9: the `%rx` magic with hostile lines and hostile registries.

What a user types into `%rx` (unbalanced quotes, markup, a password in a reference) and what a
registry answers (markup and escapes in an error) end as one printed line or an escaped view:
never a traceback, a raw control character, a secret or live markup.
"""

from __future__ import annotations

import pytest
from helpers.hostile import recording_server
from test_html_injection import assert_safe

import registry_explorer as rx
from registry_explorer.doors.magic import RxMagic

LINES = ['digest "unbalanced', "digest 'a' 'b", "files", "no-such-verb-but-a-ref:tag", "--no-such-option",
         "digest <script>alert(1)</script>", "digest alice:pw-UNLIKELY-77aa@127.0.0.1:1/r:t"]


def _magic() -> RxMagic:
    return RxMagic(rx.Client(docker_config={}, retries=0, timeout=2, cache=False))


@pytest.mark.parametrize("line", LINES)
def test_a_hostile_line_prints_at_most_one_line(line, capsys):
    try:
        result = _magic()(line)
    except Exception as exc:  # noqa: BLE001 - the point: nothing may escape the magic
        pytest.fail(f"{type(exc).__name__} escaped %rx {line!r}: {exc}")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "pw-UNLIKELY-77aa" not in text + repr(result)
    assert "Traceback" not in text
    if result is None and line.startswith("digest"):
        assert text.strip().startswith(("rx: error: ", "Usage:", "Error:")), text


def test_markup_as_a_reference_shows_an_escaped_explorer():
    pytest.importorskip("ipywidgets")
    explorer = _magic()("<script>alert(1)</script>")
    html = explorer._repr_mimebundle_().get("text/html", "")
    assert_safe(html, "the Explorer of %rx <script>")
    assert "<script>alert(1)" not in html


def test_an_error_with_markup_and_escapes_prints_one_visible_line(capsys):
    def respond(h, s):
        if s.path == "/v2/":
            return h.json(200, {})
        return h.json(404, {"errors": [{"code": "MANIFEST_UNKNOWN",
                                        "message": "<script>alert(1)</script>\x1b]0;pwned\x07\nsecond line"}]})

    with recording_server(respond) as rec:
        assert _magic()(f"manifest {rec.host}/r:t") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("rx: error: ")
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;pwned\\x07" in out
