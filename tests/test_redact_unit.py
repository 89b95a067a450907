"""The one redaction path (core/redact.py), the terminal escaping (core/terminal.py) and the curl replay script.

Each rule with a case it must redact and a case it must leave alone (a redaction that eats ordinary
text is a bug too: `foo/b@r` is a typo to show, `Basic challenge` a sentence).
"""

from __future__ import annotations

import pytest

from registry_explorer.core.errors import InvalidReference, MissingExtra, NotFound
from registry_explorer.core.redact import (
    REDACTED,
    redact_body,
    redact_headers,
    redact_reference,
    redact_text,
    redact_url,
    remember,
)
from registry_explorer.core.terminal import shown_line, visible
from registry_explorer.doors.cli.replay import curl_script
from registry_explorer.http.trace import Exchange, Trace

REDACTS = [
    ("https://u:pw-1@h.example/x", "pw-1"),
    ("https://h.example/x?X-Amz-Signature=s1g&X-Amz-Algorithm=AWS4", "s1g"),
    ("/relative?sig=s2g", "s2g"),
    ("https://h.example/x#access_token=frag1", "frag1"),
    ("see https://h.example/x?token=t0k.", "t0k"),
    ("alice:pass-9@registry.example/repo:tag", "pass-9"),
    ("alice:pa/ss9@127.0.0.1:5000/repo", "pa/ss9"),
    ("alice:p@ss9@localhost/repo", "p@ss9"),
    ("Authorization: Bearer abc.def-123456789", "abc.def-123456789"),
    ("Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ('{"password": "hunter2", "name": "x"}', "hunter2"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldA", "c2lnbmF0dXJlLXNlY3JldA"),
]
KEEPS = ["foo/b@r", "alpine:3.20@sha256:" + "a" * 64, "127.0.0.1:5000/repo@latest", "a Basic challenge we can answer",
         "Bearer realm=\"https://auth.example/token\",service=\"registry\"", "https://h.example/v2/repo/manifests/1.0",
         "scope=repository:a:pull", "café 中文"]


@pytest.mark.parametrize(("text", "secret"), REDACTS)
def test_redact_text_removes_each_kind_of_secret(text, secret):
    out = redact_text(text)
    assert secret not in out and out == redact_text(out), "redacted, and redacting again changes nothing"


@pytest.mark.parametrize("text", KEEPS)
def test_redact_text_leaves_ordinary_text_alone(text):
    assert redact_text(text, known=False) == text


def test_remembered_secrets_are_scrubbed_from_text_but_not_from_urls():
    remember("echoed-UNLIKELY-0a0a")
    assert "echoed-UNLIKELY" not in redact_text("the token echoed-UNLIKELY-0a0a is expired")
    assert redact_text("short", known=True) == "short"
    # URLs and headers are redacted by structure: a weak password that is also a word stays readable there.
    assert redact_url("https://h.example/t?service=echoed-UNLIKELY-0a0a") .endswith("echoed-UNLIKELY-0a0a")


def test_headers_keep_urls_and_schemes_readable():
    out = redact_headers({"Location": "https://s3.example/b?X-Amz-Signature=abc&x=1", "Authorization": "Bearer t0k",
                          "Link": '</v2/r/tags/list?last=a&token=abc>; rel="next"', "Set-Cookie": "s=1",
                          "X-Other": "https://cdn.example/p?sig=abc"})
    assert out["Location"] == "https://s3.example/b?X-Amz-Signature=***&x=1"
    assert out["Authorization"] == f"Bearer {REDACTED}" and out["Set-Cookie"] == REDACTED
    assert out["Link"] == '</v2/r/tags/list?last=a&token=***>; rel="next"' and "abc" not in out["X-Other"]


def test_bodies_redact_secret_keys_and_strings():
    body = redact_body({"token": "t", "expires_in": 60, "errors": [{"detail": {"sig": "s"}, "message": "Bearer abcdefghij12"}]})
    assert body == {"token": REDACTED, "expires_in": 60,
                    "errors": [{"detail": {"sig": REDACTED}, "message": f"Bearer {REDACTED}"}]}


def test_errors_redact_their_message_and_attributes():
    exc = InvalidReference("alice:pw-UNLIKELY-1b1b@h.example:5/r:t", "bad")
    assert "pw-UNLIKELY-1b1b" not in str(exc) + repr(exc) + exc.reference
    nf = NotFound("not found: GET https://h.example/x?token=abc", url="https://u:p@h.example/x?sig=1",
                  errors=[{"message": "token=abc"}])
    assert "abc" not in str(nf) and nf.url == "https://h.example/x?sig=***" and nf.errors == [{"message": "token=***"}]
    assert redact_reference("alice:frag-UNLIKELY-2c2c@h.example/r") == "***@h.example/r"
    assert "frag-UNLIKELY-2c2c" not in redact_text("digest 'frag-UNLIKELY-2c2c@h.example/r' must ...")


def test_an_exchange_redacts_every_field_whenever_it_is_set():
    ex = Exchange(seq=1, started=None, method="GET", url="https://u:p@h.example/x?sig=1", purpose="blob",
                  request_headers={"Authorization": "Basic dXNlcjpw"})
    ex.response_headers = {"Location": "https://s.example/b?X-Amz-Signature=abc"}
    ex.error, ex.note = "failed: https://h.example/?token=abc", "Bearer abcdefghij12"
    assert ex.url == "https://h.example/x?sig=***" and ex.request_headers["Authorization"] == f"Basic {REDACTED}"
    assert "abc" not in ex.response_headers["Location"] + ex.error and "abcdefghij12" not in ex.note


def test_visible_escapes_controls_and_keeps_text():
    assert visible("evil\x1b]0;pwned\x07") == "evil\\x1b]0;pwned\\x07"
    assert visible("a\nb\tc\rd\x00\x7f\x9b") == "a\\nb\\tc\\rd\\x00\\x7f\\x9b"
    assert visible("doc\u202etxt \u2066x\u2069 \ufeff") == "doc\\u202etxt \\u2066x\\u2069 \\ufeff"
    assert visible("bytes \udc9b") == "bytes \\x9b"
    assert visible("café 中文 ok/\\path") == "café 中文 ok/\\path"
    assert shown_line("one\n  two\x1b[2J token=abc") == "one two\\x1b[2J token=***"


def _ex(trace: Trace, method: str, url: str, purpose: str, status=None, error=None, **kw) -> Exchange:
    ex = trace.start(method, url, purpose, kw.pop("headers", {}))
    ex.status, ex.error = status, error
    for k, v in kw.items():
        setattr(ex, k, v)
    return ex


def test_curl_script_comments_what_cannot_replay():
    t = Trace()
    d = "sha256:" + "c" * 64
    probe = _ex(t, "GET", "https://127.0.0.1:5000/v2/", "ping", error="TLS handshake failed")
    ping = _ex(t, "GET", "http://127.0.0.1:5000/v2/", "ping", 200)
    token = _ex(t, "GET", "http://127.0.0.1:5000/token?service=x", "token", 200)
    first = _ex(t, "GET", f"http://127.0.0.1:5000/v2/r/blobs/{d}", "blob", 307, headers={"Authorization": "Bearer x"})
    hop = _ex(t, "GET", "https://s3.example/b?X-Amz-Signature=abc", "blob", 200, redirected_from=first.seq)
    cached = t.cached("config", d, 10)
    lines = curl_script([probe, ping, token, first, hop, cached], "/tmp/rx-dir").splitlines()
    assert lines[0].startswith("# rx trace: 6 exchanges") and "/tmp/rx-dir" in lines[0]
    assert lines[1].startswith("# GET https://127.0.0.1:5000/v2/ failed (TLS handshake failed)") and "plain http" in lines[1]
    assert lines[2].startswith("curl -sS http://127.0.0.1:5000/v2/")
    assert lines[3].startswith("TOKEN=$(curl ")
    assert lines[4].startswith("curl -sS -L -o /tmp/rx-dir/sha256-" + "c" * 64) and '"Authorization: Bearer $TOKEN"' in lines[4]
    assert lines[5].startswith(f"# GET https://s3.example/b?X-Amz-Signature=***: the 200 answer to the redirect of #{first.seq}")
    assert lines[6].startswith("# config sha256:") and "local cache" in lines[6]
    assert "expects" not in "\n".join(lines), "the token comes from the script's own token line"


def test_the_sandbox_password_never_redacts_the_package_name():
    # A Client remembers the password it holds for the rest of the process; the token sandbox's
    # demo password was "registry-explorer", after which every pip line and banner read
    # '<redacted>[census]' (found by CI: a MissingExtra test after the token sandbox's tests).
    from registry_explorer.sandbox import DEMO_PASSWORD

    remember(DEMO_PASSWORD)
    msg = str(MissingExtra("registry_explorer_absent", "census", "Census frames"))
    assert "pip install 'registry-explorer[census]'" in msg
    assert redact_text(f"registry-explorer sandbox: http://127.0.0.1:5000 {DEMO_PASSWORD}") == \
        f"registry-explorer sandbox: http://127.0.0.1:5000 {REDACTED}"
