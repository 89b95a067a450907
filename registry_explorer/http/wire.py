"""The wire: the one module that talks to `requests` and `urllib3`.

It sends exactly one request (no redirects, no retries, no auth: the seams above decide those)
and returns our `Response`. Every failure of the libraries underneath becomes a
`ConnectionFailed` with a one-line reason; their exception types never escape.
"""

from __future__ import annotations

import functools
import http.client
import logging
import os
import re
import ssl
import warnings
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ..core.errors import ConnectionFailed, ProtocolError
from ..core.redact import redact_text, redact_url
from .response import Response

USER_AGENT = "registry-explorer/0.1"


class _RedactingFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG, pre-signed query strings included: redact the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


# The libraries we drive log what we send (the wire is their only importer); their records go through
# the same redaction as ours. A logger's filter sees every record made on that logger.
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection", "requests"):
    if not any(isinstance(f, _RedactingFilter) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_RedactingFilter())
# What a broken stream raises underneath: urllib3's, http.client's and the socket's errors.
_STREAM_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
                  requests.exceptions.RequestException)


def silence_insecure_warnings(hosts: Iterable[str]) -> None:
    """Drop urllib3's InsecureRequestWarning for hosts the user explicitly called insecure.

    Asking for `insecure=` is the opt-in, as `skopeo --tls-verify=false` and `crane --insecure`
    are, so a warning on every request is noise. The filter names each host exactly (urllib3's
    message carries the host without its port); other hosts still warn.
    """
    for host in hosts:
        name = urlsplit(f"//{host}").hostname
        if name:
            warnings.filterwarnings(
                "ignore", message=f"Unverified HTTPS request is being made to host '{re.escape(name)}'",
                category=urllib3.exceptions.InsecureRequestWarning,
            )


def reason(exc: BaseException) -> str:
    """The innermost, most useful message of a wrapped library exception (requests > urllib3 > socket)."""
    inner = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    text = str(getattr(inner, "reason", None) or inner)
    return text[:300]


class _Body:
    """urllib3's raw body, read without Content-Encoding decoding, errors mapped to ours."""

    def __init__(self, resp: requests.Response, read_timeout: float | None):
        self._resp = resp
        self._raw = resp.raw
        self._read_timeout = read_timeout
        # http.client's response can `readinto` our buffer directly; urllib3's readinto reads
        # into a temporary bytes object and copies. Nothing has been read yet, so it is safe.
        fp = getattr(self._raw, "_fp", None)
        self._fp = fp if fp is not None and hasattr(fp, "readinto") else None
        self._where = urlsplit(resp.url).path

    def _broken(self, exc: BaseException) -> ConnectionFailed:
        return ConnectionFailed(f"connection broke while reading {self._where}: {reason(exc)}", kind="stream")

    def _set_timeout(self, timeout: float | None) -> None:
        # Bound each wait by what is left of the document's deadline, not only the read timeout.
        conn = getattr(self._raw, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None and timeout is not None:
            limit = min(timeout, self._read_timeout) if self._read_timeout else timeout
            try:
                sock.settimeout(max(limit, 0.001))
            except OSError:
                pass

    def read1(self, n: int, timeout: float | None) -> bytes:
        """Up to n bytes as soon as some arrive."""
        self._set_timeout(timeout)
        try:
            return self._raw.read1(n, decode_content=False)
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
            raise ConnectionFailed(f"reading {self._where} timed out", kind="timeout") from None
        except _STREAM_ERRORS as exc:
            raise self._broken(exc) from None

    def readinto(self, buf) -> int:
        """Fill `buf` from the socket."""
        try:
            if self._fp is not None:
                return self._fp.readinto(buf)
            data = self._raw.read(len(buf), decode_content=False)
        except _STREAM_ERRORS as exc:
            raise self._broken(exc) from None
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Release the connection: back to the pool when the body was read to its end, else closed."""
        fp = self._fp
        # readinto() reads http.client's response directly, so urllib3 never sees the end of the
        # body and would close a perfectly reusable connection (a new TCP connection per blob and
        # per HEAD). A body read to its end (or a HEAD's empty one) leaves the connection reusable.
        if fp is not None and not fp.isclosed() and fp.length == 0 and not fp.chunked:
            fp.read()  # no bytes left: http.client marks the response complete
        if fp is not None and fp.isclosed():
            release = getattr(self._raw, "release_conn", None)
            if release is not None:
                release()
        self._resp.close()


POOL_SIZE = 32


@functools.lru_cache(maxsize=8)
def _tls_context(ca_location: str) -> ssl.SSLContext:
    """One verifying SSLContext per CA bundle (file or directory) for the whole process: read once."""
    ctx = urllib3.util.ssl_.create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if os.path.isdir(ca_location):
        ctx.load_verify_locations(capath=ca_location)
    else:
        ctx.load_verify_locations(cafile=ca_location)
    return ctx


class _SharedTLSAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, handing urllib3 one shared SSLContext per CA bundle instead of the bundle's path.

    Given a path, urllib3 loads the bundle into a fresh context for every new connection: ~25 ms for
    Debian's 150 certificates, paid by every new Client on its first request (the https probe of a
    loopback registry included). Verification is unchanged: the bundle requests would use (the
    `verify` path, else its default), CERT_REQUIRED, and urllib3 still matches the host name.
    Client certificates keep requests' own path.
    """

    @staticmethod
    def _shared(url: str, verify, cert) -> bool:
        return bool(verify) and cert is None and url.lower().startswith("https")

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        """requests' pool key, with the shared `ssl_context` for verified https without a client certificate."""
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        if self._shared(request.url, verify, cert):
            pool.pop("ca_certs", None)
            pool.pop("ca_cert_dir", None)
            # as requests' cert_verify picks the bundle: the `verify` path (str or PathLike), else its default
            pool["ssl_context"] = _tls_context(os.fspath(verify) if verify is not True else DEFAULT_CA_BUNDLE_PATH)
        return host, pool

    def cert_verify(self, conn, url, verify, cert) -> None:
        """requests' checks; then the pool's shared context holds the CAs, so urllib3 must not load them again."""
        super().cert_verify(conn, url, verify, cert)
        if self._shared(url, verify, cert):
            conn.ca_certs = conn.ca_cert_dir = None


class Wire:
    """Sends one request with a `requests.Session` and returns our `Response`."""

    def __init__(self, session: requests.Session | None, timeout: tuple[float, float], deadline: float | None):
        if session is None:
            session = requests.Session()
            # One Client serves many threads (fetch_blobs, tag HEADs, census units): keep up to
            # POOL_SIZE connections per host alive instead of requests' 10 (then: discard and reconnect).
            adapter = _SharedTLSAdapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout
        self.deadline = deadline

    def send(self, method: str, url: str, *, headers: Mapping[str, str], verify: Any, stream: bool,
             data: Any = None) -> Response:
        """One request, no redirects followed; ConnectionFailed for anything that is not an HTTP answer."""
        host = urlsplit(url).netloc
        try:
            resp = self.session.request(method, url, headers=dict(headers), data=data, stream=True,
                                        allow_redirects=False, verify=verify, timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            text = str(exc)
            if "CERTIFICATE_VERIFY_FAILED" not in text and "hostname" not in text.lower():
                # Not a verification failure: typically an http-only server answering a TLS hello.
                raise ConnectionFailed(f"TLS handshake with {host} failed: {reason(exc)}", url=redact_url(url),
                                       kind="tls-handshake") from None
            raise ConnectionFailed(
                f"TLS failed for {host}: {reason(exc)}. If the registry uses a private CA pass "
                f"ca_bundle='/path/ca.pem'; to skip verification add {host!r} to insecure=.",
                url=redact_url(url), kind="tls-verify",
            ) from None
        except requests.exceptions.Timeout:
            raise ConnectionFailed(
                f"{method} {redact_url(url)} timed out (connect {self.timeout[0]}s, read {self.timeout[1]}s); "
                "raise timeout= or check the network", url=redact_url(url), kind="timeout",
            ) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader, UnicodeError, ValueError) as exc:
            # A header value or URL we were handed (by a server, ultimately) that cannot be sent.
            raise ProtocolError(f"cannot send {method} to {redact_url(url)}: {reason(exc)}", what="request") from None
        except requests.exceptions.RequestException as exc:
            raise ConnectionFailed(_unreachable(method, url, exc), url=redact_url(url)) from None
        body = _Body(resp, self.timeout[1])
        out = Response(resp.status_code, resp.headers, resp.url or url, body, reason=resp.reason or "",
                       deadline=self.deadline)
        if not stream:
            out.read_all(1 << 20, "response body")  # bodies we don't stream are small (pings)
        return out


def _unreachable(method: str, url: str, exc: BaseException) -> str:
    """One line: which host, and whether it refused, timed out or did not resolve."""
    host = urlsplit(url).netloc
    text = reason(exc)
    low = text.lower()
    if "refused" in low:
        why = "the connection was refused (is the registry running on that port?)"
    elif "name or service not known" in low or "nodename nor servname" in low or "resolve" in low:
        why = "the host name does not resolve (check the name and your DNS)"
    elif "timed out" in low:
        why = "the connection timed out (check the address and any firewall)"
    else:
        why = text
    return f"could not reach {host} ({method} {redact_url(url)}): {why}"
