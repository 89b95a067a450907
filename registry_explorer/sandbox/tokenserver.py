"""A small Docker/OCI token server for tests.

Implements the parts of the Docker token protocol that a registry client meets:

* ``GET /token?service=..&scope=..&account=..`` with optional Basic auth
  (https://distribution.github.io/distribution/spec/auth/token/)
* ``POST /token`` OAuth2 form requests with ``grant_type=password`` or
  ``grant_type=refresh_token``
  (https://distribution.github.io/distribution/spec/auth/oauth/)

Tokens are ES256 JWTs signed with the ``openssl`` CLI (no Python crypto
package needed) in the form CNCF distribution 2.8 accepts: ``kid`` is the
libtrust key ID of the signing key, ``aud`` is a string, ``exp`` is set, and
the signature is raw ``r||s``.

The HTTP handler lives in tokenserver_http.py; this module holds the server's lifecycle, its
request records and the token signing.

Run standalone:  python tests/token_server.py --key K --cert C
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .tokenserver_http import _Handler

__all__ = ["TokenServer", "libtrust_key_id", "der_to_raw_ecdsa", "parse_scope"]

REPO_ACTIONS = ("pull", "push", "delete")


# --------------------------------------------------------------------------- helpers


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(spki_der: bytes) -> str:
    """libtrust key ID: base32(sha256(SPKI DER)[:30]) in 12 groups of 4."""
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


def _der_read(data: bytes, pos: int, expected_tag: int) -> tuple[bytes, int]:
    """Read one DER TLV with ``expected_tag`` at ``pos``; return (value, next_pos)."""
    if pos >= len(data) or data[pos] != expected_tag:
        raise ValueError(f"DER: expected tag 0x{expected_tag:02x} at {pos}")
    pos += 1
    length = data[pos]
    pos += 1
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4:
            raise ValueError("DER: unsupported length encoding")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    value = data[pos : pos + length]
    if len(value) != length:
        raise ValueError("DER: truncated")
    return value, pos + length


def der_to_raw_ecdsa(der: bytes, size: int = 32) -> bytes:
    """Convert an ECDSA-Sig-Value DER ``SEQUENCE { r INTEGER, s INTEGER }`` to raw r||s."""
    seq, end = _der_read(der, 0, 0x30)
    if end != len(der):
        raise ValueError("DER: trailing bytes after signature")
    r, pos = _der_read(seq, 0, 0x02)
    s, pos = _der_read(seq, pos, 0x02)
    if pos != len(seq):
        raise ValueError("DER: trailing bytes in signature sequence")
    out = b""
    for part in (r, s):
        v = int.from_bytes(part, "big")
        out += v.to_bytes(size, "big")
    return out


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """Parse ``type[(class)]:name:actions`` (name may contain ':'), or None if malformed."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    rtype = parts[0].split("(", 1)[0]
    name = ":".join(parts[1:-1])
    actions = [a for a in parts[-1].split(",") if a]
    if not rtype or not name:
        return None
    return rtype, name, actions


# --------------------------------------------------------------------------- server


class TokenServer:
    """Docker token server on 127.0.0.1:<random port>, in a daemon thread.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        signing_key: str | Path,
        signing_cert: str | Path,
        *,
        service: str = "registry-explorer-test",
        issuer: str = "rx-test-issuer",
        users: Mapping[str, str] | None = None,
        refresh_tokens: Mapping[str, str] | None = None,
        private_prefixes: Iterable[str] = ("private/",),
        expires_in: int = 300,
    ) -> None:
        self.signing_key = Path(signing_key)
        self.signing_cert = Path(signing_cert)
        self.service = service
        self.issuer = issuer
        self.users: dict[str, str] = dict(users if users is not None else {"alice": "s3cret"})
        self.refresh_tokens: dict[str, str] = dict(
            refresh_tokens if refresh_tokens is not None else {"rt-alice-identity": "alice"}
        )
        self.private_prefixes = tuple(private_prefixes)
        self.expires_in = int(expires_in)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.kid = libtrust_key_id(self._public_spki_der())
        self.url = ""  # set by start()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> TokenServer:
        """Start serving on an ephemeral localhost port; return self."""
        if self._httpd is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"token_server": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        self._httpd = httpd
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}/token"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"token-server-{port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on (0 before start())."""
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0]) if self.url else 0

    # ------------------------------------------------------------------ records

    def _record(self, rec: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(rec)

    def records(self) -> list[dict[str, Any]]:
        """A snapshot copy of the request records."""
        with self._lock:
            return list(self.requests)

    def reset(self) -> None:
        """Forget all request records."""
        with self._lock:
            self.requests.clear()

    def count(self, **criteria: Any) -> int:
        """Number of records matching every ``key=value``.

        ``scope=`` matches if the value is one of the record's scopes;
        a callable value is used as a predicate on the record's field.
        """
        n = 0
        for rec in self.records():
            ok = True
            for key, want in criteria.items():
                have = rec.get(key)
                if callable(want):
                    ok = bool(want(have))
                elif key == "scope" and isinstance(want, str):
                    ok = want in (have or [])
                else:
                    ok = have == want
                if not ok:
                    break
            if ok:
                n += 1
        return n

    # ------------------------------------------------------------------ tokens

    def _public_spki_der(self) -> bytes:
        proc = subprocess.run(
            ["openssl", "pkey", "-in", str(self.signing_key), "-pubout", "-outform", "DER"],
            stdin=subprocess.DEVNULL, capture_output=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openssl pkey failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def _sign(self, data: bytes) -> bytes:
        proc = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.signing_key)],
            input=data, capture_output=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openssl dgst -sign failed: {proc.stderr.decode(errors='replace')}")
        return der_to_raw_ecdsa(proc.stdout)

    def grant(self, user: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The access list a token for ``user`` (None = anonymous) gets for ``scopes``."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            rtype, name, wanted = parsed
            if rtype == "repository":
                if user is not None:
                    allowed = set(REPO_ACTIONS) | {"*"}
                elif name.startswith(self.private_prefixes):
                    allowed = set()
                else:
                    allowed = {"pull"}
            elif rtype == "registry" and name == "catalog":
                allowed = {"*"} if user is not None else set()
            else:
                allowed = set()
            actions = [a for a in wanted if a in allowed]
            access.append({"type": rtype, "name": name, "actions": actions})
        return access

    def issue_token(self, user: str | None, scopes: Iterable[str], *, expires_in: int | None = None) -> tuple[str, list[dict[str, Any]], int]:
        """Return (jwt, access, issued_at_epoch)."""
        now = int(time.time())
        exp_in = self.expires_in if expires_in is None else int(expires_in)
        access = self.grant(user, scopes)
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": self.service,
            "exp": now + exp_in,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        ).encode("ascii")
        sig = self._sign(signing_input)
        return signing_input.decode("ascii") + "." + _b64url(sig), access, now

    def _new_refresh_token(self, user: str) -> str:
        for tok, u in self.refresh_tokens.items():
            if u == user:
                return tok
        tok = f"rt-{user}-{secrets.token_hex(8)}"
        self.refresh_tokens[tok] = user
        return tok


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """Run a standalone token server from the command line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--key", help="EC P-256 private key (PEM); generated if omitted")
    p.add_argument("--cert", help="certificate for --key (PEM); generated if omitted")
    p.add_argument("--service", default="registry-explorer-test")
    p.add_argument("--issuer", default="rx-test-issuer")
    p.add_argument("--expires-in", type=int, default=300)
    args = p.parse_args(argv)
    key, cert = args.key, args.cert
    if not key or not cert:
        tmp = tempfile.mkdtemp(prefix="rx-token-")
        key, cert = f"{tmp}/token-signing.key", f"{tmp}/token-signing.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", cert, "-days", "3650", "-subj", "/CN=rx token signer"],
            check=True, capture_output=True,
        )
    server = TokenServer(key, cert, service=args.service, issuer=args.issuer, expires_in=args.expires_in)
    with server:
        print(server.url, flush=True)
        if not (args.key and args.cert):
            print(f"signing cert: {cert}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
