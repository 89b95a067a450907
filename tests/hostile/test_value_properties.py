"""Issue 10, class 5 as properties: every parser of a server-supplied value either returns a sane
result or raises a RegistryExplorerError; never ValueError, OverflowError or UnicodeError.

Random text and random bytes (decoded latin-1, as http.client hands header values over) go into
each parser; built values (a challenge, a Link, a JWT, a rate limit) come back out intact.
"""

from __future__ import annotations

import base64
import json
import math
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import registry_explorer as rx

# The parsers under test, imported in ONE place so they are easy to repoint if modules move.
from registry_explorer.http.credentials import parse_challenges
from registry_explorer.http.pagination import next_link
from registry_explorer.http.retry import parse_retry_after
from registry_explorer.http.trace import decode_jwt, parse_rate_limit

EXAMPLES = int(os.environ.get("RX_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INT64 = 1 << 63

# Header values as a server can send them: any text, or any bytes as http.client decodes them.
header_text = st.one_of(st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
# Hostile numbers: non-ASCII digits, huge integers, signs, exponents.
hostile_number = st.one_of(
    st.sampled_from(["²", "①", "١٢", "٣", "𝟗", "Ⅻ", "1e999", "-0", "+5", " 7 ", "0x10", "nan", "inf"]),
    st.integers(min_value=-(10 ** 40), max_value=10 ** 40).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=30),
)
# URL-ish text: malformed IPv6 literals, as issue 10 saw in realm, Location and Link.
bad_url = st.one_of(st.sampled_from(["http://[::1", "http://[zz]/", "https://[", "//[::1/x", "http://[::1]]:80/"]),
                    st.builds(lambda a, b: f"http://[{a}]{b}", st.text(max_size=10), st.text(max_size=10)))
_word = st.text(alphabet="abcdefxyz0123456789._-", min_size=1, max_size=8)
url_host = st.builds(lambda name, port: f"{name}.test" + (f":{port}" if port else ""),
                     st.text(alphabet="abcdefxyz", min_size=1, max_size=10), st.one_of(st.none(), st.integers(1, 65535)))
url_path = st.builds(lambda parts, query: "/" + "/".join(parts) + (f"?last={query}&n=10" if query else ""),
                     st.lists(_word.filter(lambda w: w not in (".", "..")), min_size=1, max_size=4),
                     st.one_of(st.none(), st.text(alphabet="abcxyz019", min_size=1, max_size=8)))


def _in_tree(call):
    try:
        return call(), None
    except rx.RegistryExplorerError as exc:
        return None, exc


# -- WWW-Authenticate -------------------------------------------------------------------------------


@SETTINGS
@given(header_text)
def test_challenges_any_value(header):
    result, _ = _in_tree(lambda: parse_challenges(header))
    for ch in result or []:
        assert ch.scheme == ch.scheme.lower()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in ch.params.items())


@SETTINGS
@given(host=url_host, path=url_path, service=st.from_regex(r"[A-Za-z0-9.:-]{1,20}", fullmatch=True),
       scope=st.from_regex(r"repository:[a-z0-9/]{1,15}:(pull|pull,push)", fullmatch=True))
def test_challenge_round_trip(host, path, service, scope):
    realm = f"https://{host}{path}"
    header = f'Basic realm="x", Bearer realm="{realm}",service="{service}",scope="{scope}"'
    chs = parse_challenges(header)
    bearer = [c for c in chs if c.scheme == "bearer"]
    assert len(bearer) == 1
    assert bearer[0].realm == realm and bearer[0].params["service"] == service
    assert bearer[0].params["scope"] == scope


# -- Retry-After ------------------------------------------------------------------------------------


@SETTINGS
@given(st.one_of(header_text, hostile_number))
def test_retry_after_any_value(value):
    result, _ = _in_tree(lambda: parse_retry_after(value))
    assert result is None or (isinstance(result, float) and result >= 0 and not math.isnan(result))


@SETTINGS
@given(st.integers(min_value=0, max_value=10 ** 9))
def test_retry_after_seconds_round_trip(n):
    assert parse_retry_after(str(n)) == float(n)
    assert parse_retry_after(f" {n} ") == float(n)


# -- RateLimit ---------------------------------------------------------------------------------------


def _fits(v) -> bool:
    return v is None or (isinstance(v, int) and -INT64 <= v < INT64)


@SETTINGS
@given(limit=st.one_of(st.none(), header_text, hostile_number), remaining=st.one_of(st.none(), hostile_number),
       window=st.one_of(st.none(), hostile_number))
def test_rate_limit_any_value(limit, remaining, window):
    headers = {}
    if limit is not None:
        headers["RateLimit-Limit"] = limit
    if remaining is not None:
        headers["RateLimit-Remaining"] = remaining + (f";w={window}" if window is not None else "")
    result, _ = _in_tree(lambda: parse_rate_limit(headers))
    if result is not None:
        # Values land in int64 DataFrame columns (frames.trace): beyond int64 must be dropped or clamped.
        assert _fits(result["limit"]) and _fits(result["remaining"]) and _fits(result["window_seconds"]), result


@SETTINGS
@given(limit=st.integers(0, 10 ** 6), remaining=st.integers(0, 10 ** 6), window=st.integers(1, 10 ** 6))
def test_rate_limit_round_trip(limit, remaining, window):
    got = parse_rate_limit({"ratelimit-limit": f"{limit};w={window}", "RateLimit-Remaining": f"{remaining};w={window}"})
    assert got is not None
    assert (got["limit"], got["remaining"], got["window_seconds"]) == (limit, remaining, window)


# -- JWT claims ---------------------------------------------------------------------------------------


@SETTINGS
@given(header_text)
def test_decode_jwt_any_value(token):
    result, _ = _in_tree(lambda: decode_jwt(token))
    assert result is None or (isinstance(result["header"], dict) and isinstance(result["claims"], dict))


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=10)


@SETTINGS
@given(header=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       claims=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
       # Real signatures are 32+ bytes; a 1-byte one encodes to 2 letters that occur in any English word.
       signature=st.binary(min_size=16, max_size=64))
def test_decode_jwt_round_trip(header, claims, signature):
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    sig = b64(signature)
    token = ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), sig])
    got = decode_jwt(token)
    assert got is not None and got["header"] == header and got["claims"] == claims
    assert got["signature"] == "<redacted>" and sig not in json.dumps(got), "the signature never comes back"


# -- Link ---------------------------------------------------------------------------------------------


@SETTINGS
@given(header=st.one_of(header_text, st.builds(lambda u: f'<{u}>; rel="next"', st.one_of(bad_url, header_text))),
       current=st.one_of(header_text, bad_url, st.builds(lambda h, p: f"https://{h}{p}", url_host, url_path)))
def test_next_link_any_value(header, current):
    result, _ = _in_tree(lambda: next_link(header, current))
    assert result is None or isinstance(result, str)


@SETTINGS
@given(host=url_host, path=url_path, prev=st.booleans(), quoted=st.booleans())
def test_next_link_round_trip(host, path, prev, quoted):
    url = f"https://{host}{path}"
    rel = '"next"' if quoted else "next"
    header = (f'<https://{host}/v2/prev>; rel="prev", ' if prev else "") + f"<{url}>; rel={rel}"
    assert next_link(header, f"https://{host}/v2/repo/tags/list?n=10") == url


@SETTINGS
@given(host=url_host, path=url_path)
def test_next_link_relative_resolves_on_the_current_host(host, path):
    assert next_link(f'<{path}>; rel="next"', f"https://{host}/v2/x/tags/list") == f"https://{host}{path}"



# -- the checked parsers of http/values.py: every server-controlled number, URL, range and token -------

from registry_explorer.http import values as hv  # noqa: E402


# Random text alone almost never holds a lone '²' or a 23-digit number: the hostile numbers go in too.
@given(st.one_of(st.text(max_size=40), hostile_number))
@settings(max_examples=300, deadline=None)
def test_header_int_is_an_int64_or_our_error(text):
    try:
        n = hv.header_int(text, what="Content-Length")
    except rx.ProtocolError:
        return
    assert n is None or (0 <= n <= hv.MAX_INT64 and str(n) == text.strip().lstrip("0") or n == 0)


@given(st.integers(min_value=0, max_value=hv.MAX_INT64))
def test_header_int_reads_back_what_was_written(n):
    assert hv.header_int(f" {n} ", what="Content-Length") == n
    assert hv.lenient_int(str(n)) == n


@given(st.integers(min_value=hv.MAX_INT64 + 1, max_value=1 << 80))
def test_numbers_beyond_int64_are_refused(n):
    assert hv.lenient_int(str(n)) is None
    try:
        hv.header_int(str(n), what="Content-Length")
        raise AssertionError("accepted a number beyond int64")
    except rx.ProtocolError:
        pass


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40), st.integers(1, 1 << 41))
def test_content_range_round_trips(a, length, total):
    b = a + length
    parsed = hv.content_range(f"bytes {a}-{b}/{total}")
    assert parsed == ((a, b, total) if b < total else None)


# URLs with a scheme a server should never get us to fetch (file:, gopher:, ...), and http(s) controls.
any_scheme_url = st.builds(lambda scheme, host: f"{scheme}://{host}/x",
                           st.sampled_from(["file", "gopher", "ftp", "ws", "data", "javascript", "http", "https"]),
                           st.sampled_from(["evil.test", "127.0.0.1:5000", "[::1]"]))


@given(st.one_of(st.text(max_size=80), any_scheme_url, bad_url))
@settings(max_examples=300, deadline=None)
def test_http_url_gives_an_http_url_or_our_error(text):
    try:
        url = hv.http_url(text, "https://registry.example/v2/x", what="Location")
    except rx.ProtocolError:
        return
    assert url.startswith(("http://", "https://")) and hv.netloc(url)


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_bearer_token_is_header_safe_or_our_error(text):
    try:
        tok = hv.bearer_token(text, what="token server")
    except rx.ProtocolError:
        return
    assert tok is None or (tok == text and tok.isascii() and "\r" not in tok and "\n" not in tok and " " not in tok)


@given(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.integers(), st.text(max_size=5)))
def test_json_seconds_is_finite_and_bounded(value):
    out = hv.json_seconds(value, default=60, maximum=86400)
    assert 0 < out <= 86400 and math.isfinite(out)
