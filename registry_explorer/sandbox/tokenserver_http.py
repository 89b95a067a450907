"""The token server's HTTP side: the `/token` GET (Docker token spec) and POST (OAuth2 form) handlers.

https://distribution.github.io/distribution/spec/auth/token/ and
https://distribution.github.io/distribution/spec/auth/oauth/. Every request is recorded on the
`TokenServer` (tokenserver.py) with secrets masked, so tests can assert on what a client sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit


def _split_scopes(values: Iterable[str]) -> list[str]:
    """Scopes may be repeated params; OAuth2 POST puts several in one, space separated."""
    out: list[str] = []
    for v in values:
        out.extend(s for s in v.split(" ") if s)
    return out


def _new_record(method: str, path: str, query: dict[str, str], scopes: list[str], **extra: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "query": query, **extra, "scope": scopes, "user": None,
            "grant_type": None, "status": None, "time": time.time()}


class _Handler(BaseHTTPRequestHandler):
    """One /token request; `token_server` is bound per server (see TokenServer.start)."""

    # The TokenServer (tokenserver.py) this handler answers for, set on the bound subclass; not imported
    # here, because tokenserver.py imports this module to bind it (no cycle, not even for typing).
    token_server: Any
    protocol_version = "HTTP/1.1"
    server_version = "rx-test-token-server/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence
        """Silence the default request logging."""

    # -- response helpers
    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _refuse(self, rec: dict[str, Any], status: int, code: str, message: str) -> None:
        # Both error shapes: the registry's `errors` list, and OAuth2's `error`/`error_description`.
        rec["status"] = status
        self._send_json(status, {
            "errors": [{"code": code, "message": message, "detail": None}],
            "error": code.lower(),
            "error_description": message,
            "details": message,
        })

    def _issue(self, rec: dict[str, Any], user: str | None, scopes: list[str], *, oauth: bool,
               refresh_token: str | None = None) -> None:
        ts = self.token_server
        token, access, issued = ts.issue_token(user, scopes)
        # The token spec's GET answer carries the JWT as `token` and `access_token` (older
        # clients read the first); the OAuth2 POST answer names the granted scope instead.
        body: dict[str, Any] = {} if oauth else {"token": token}
        body["access_token"] = token
        body["expires_in"] = ts.expires_in
        if oauth:
            body["scope"] = " ".join(scopes)
        body["issued_at"] = datetime.fromtimestamp(issued, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        rec["status"] = 200
        rec["access"] = access
        self._send_json(200, body)

    def _serve(self, rec: dict[str, Any], answer: Callable[[], None]) -> None:
        """Answer a /token request (404 elsewhere), recording it whatever happens."""
        try:
            if rec["path"].rstrip("/") != "/token":
                self._refuse(rec, 404, "NOT_FOUND", "not found")
            else:
                answer()
        finally:
            self.token_server._record(rec)

    def _basic_auth(self) -> tuple[str, str] | None | bool:
        """None if absent; (user, password) if well-formed; False if malformed."""
        header = self.headers.get("Authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = raw.partition(":")
        if not sep:
            return False
        return user, password

    # -- methods
    def do_GET(self) -> None:
        """Handle a token GET request (anonymous, or Basic auth; `offline_token=true` adds a refresh token)."""
        split = urlsplit(self.path)
        qs = parse_qs(split.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in qs.items()}
        scopes = _split_scopes(qs.get("scope", []))
        rec = _new_record("GET", split.path, query, scopes)
        self._serve(rec, lambda: self._answer_get(rec, query, scopes))

    def _answer_get(self, rec: dict[str, Any], query: dict[str, str], scopes: list[str]) -> None:
        ts = self.token_server
        creds = self._basic_auth()
        user = None
        if creds is False:
            return self._refuse(rec, 401, "UNAUTHORIZED", "malformed Authorization header")
        if creds is not None:
            name, password = creds
            rec["user"] = name
            if ts.users.get(name) != password:
                return self._refuse(rec, 401, "UNAUTHORIZED", "incorrect username or password")
            user = name
        offline = user is not None and query.get("offline_token") == "true"
        return self._issue(rec, user, scopes, oauth=False, refresh_token=ts._new_refresh_token(user) if offline else None)

    def do_POST(self) -> None:
        """Handle a token POST (OAuth2 form: grant_type password or refresh_token)."""
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        form_qs = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
        form = {k: v[-1] for k, v in form_qs.items()}
        scopes = _split_scopes(form_qs.get("scope", []))
        safe_form = {k: ("***" if k in ("password", "refresh_token") else v) for k, v in form.items()}
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        rec = _new_record("POST", split.path, query, scopes, form=safe_form)
        rec["grant_type"] = form.get("grant_type")
        self._serve(rec, lambda: self._answer_post(rec, form, scopes))

    def _answer_post(self, rec: dict[str, Any], form: dict[str, str], scopes: list[str]) -> None:
        ts = self.token_server
        grant_type = form.get("grant_type")
        refresh_token = None
        if grant_type == "password":
            user = form.get("username", "")
            rec["user"] = user or None
            if not user or ts.users.get(user) != form.get("password"):
                return self._refuse(rec, 401, "UNAUTHORIZED", "incorrect username or password")
            if form.get("access_type") == "offline":
                refresh_token = ts._new_refresh_token(user)
        elif grant_type == "refresh_token":
            user = ts.refresh_tokens.get(form.get("refresh_token", ""))
            rec["user"] = user
            if user is None:
                return self._refuse(rec, 401, "UNAUTHORIZED", "invalid refresh token")
            refresh_token = form.get("refresh_token")
        else:
            return self._refuse(rec, 400, "UNSUPPORTED_GRANT_TYPE", f"unsupported grant_type {grant_type!r}")
        return self._issue(rec, user, scopes, oauth=True, refresh_token=refresh_token)
