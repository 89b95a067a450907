"""Push test images over the distribution HTTP API with plain ``requests``.

Deliberately independent of ``registry_explorer``: the library under test is
never used to put the fixtures in place. Auth challenges (Basic and Bearer)
are handled here, with bearer tokens cached per (realm, service, scope).

Public API: :func:`push_image`, :func:`push_tags`, :func:`seed_tags_on_disk`,
:func:`skopeo_inspect_raw`,
:class:`PushError`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import quote, urljoin

import requests

if TYPE_CHECKING:  # pragma: no cover
    from .samples import Blob, TestImage

TIMEOUT = 60


class PushError(RuntimeError):
    """A registry refused or failed a push operation."""
    pass


_PARAM_RE = re.compile(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse one WWW-Authenticate challenge into (scheme lower-cased, params)."""
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    params = {}
    for m in _PARAM_RE.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


class _Client:
    """Minimal auth-aware HTTP client bound to one registry and repository."""

    def __init__(self, base_url: str, repository: str, *, auth, verify, session):
        self.base = base_url.rstrip("/")
        self.repository = repository
        self.auth = auth
        self.verify = verify
        self._session = session
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tokens: dict[tuple, str] = {}
        self._auth_header: str | None = None  # the header currently in use

    @property
    def session(self) -> requests.Session:
        """The requests session for this thread (or the one given)."""
        if self._session is not None:
            return self._session
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # no env proxies / CA bundles leaking in
            self._local.session = s
        return s

    def url(self, path: str) -> str:
        """The absolute URL for a registry `path`."""
        return self.base + path

    def request(self, method: str, url: str, *, headers=None, data=None, params=None) -> requests.Response:
        """Send a request, answering one auth challenge and retrying once."""
        headers = dict(headers or {})
        for attempt in range(2):
            h = dict(headers)
            if self._auth_header:
                h["Authorization"] = self._auth_header
            resp = self.session.request(
                method, url, headers=h, data=data, params=params,
                verify=self.verify, allow_redirects=False, timeout=TIMEOUT,
            )
            if resp.status_code != 401 or attempt:
                return resp
            challenge = resp.headers.get("WWW-Authenticate")
            if not challenge:
                return resp
            resp.close()
            self._answer(challenge)
        return resp  # pragma: no cover

    def _answer(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.auth:
                raise PushError(f"registry wants Basic auth but none given: {challenge}")
            user, pw = self.auth
            self._auth_header = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
            return
        if scheme != "bearer":
            raise PushError(f"unsupported auth challenge {challenge!r}")
        realm = params.get("realm")
        if not realm:
            raise PushError(f"bearer challenge without realm: {challenge!r}")
        service = params.get("service")
        scope = f"repository:{self.repository}:pull,push"
        key = (realm, service, scope)
        with self._lock:
            token = self._tokens.get(key)
        if token is None or self._auth_header == "Bearer " + token:
            # First time, or the cached token was just refused: fetch a new one.
            q = {"scope": scope}
            if service:
                q["service"] = service
            r = self.session.get(
                realm, params=q, auth=tuple(self.auth) if self.auth else None,
                verify=self.verify, timeout=TIMEOUT,
            )
            if r.status_code != 200:
                raise PushError(f"token request to {realm} failed: {r.status_code} {r.text[:300]}")
            body = r.json()
            token = body.get("token") or body.get("access_token")
            if not token:
                raise PushError(f"token response without token: {body!r}")
            with self._lock:
                self._tokens[key] = token
        self._auth_header = "Bearer " + token

    # --- operations ----------------------------------------------------

    def blob_exists(self, digest: str) -> bool:
        """Whether the repository already has the blob `digest`."""
        r = self.request("HEAD", self.url(f"/v2/{self.repository}/blobs/{digest}"))
        if r.status_code == 200:
            return True
        if r.status_code == 404:
            return False
        raise PushError(f"HEAD blob {digest}: {r.status_code}")

    def upload_blob(self, blob: Blob) -> None:
        """Upload `blob` with a monolithic POST then PUT."""
        r = self.request("POST", self.url(f"/v2/{self.repository}/blobs/uploads/"))
        if r.status_code != 202 or "Location" not in r.headers:
            raise PushError(f"POST upload: {r.status_code} {r.text[:300]}")
        location = urljoin(r.url, r.headers["Location"])
        sep = "&" if "?" in location else "?"
        put_url = f"{location}{sep}digest={quote(blob.digest, safe='')}"
        r = self.request(
            "PUT", put_url, data=blob.data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)},
        )
        if r.status_code != 201:
            raise PushError(f"PUT blob {blob.digest}: {r.status_code} {r.text[:300]}")
        got = r.headers.get("Docker-Content-Digest")
        if got and got != blob.digest:
            raise PushError(f"registry stored blob as {got}, expected {blob.digest}")

    def put_manifest(self, reference: str, blob: Blob) -> None:
        """Put `blob` as the manifest under `reference`."""
        r = self.request(
            "PUT", self.url(f"/v2/{self.repository}/manifests/{reference}"),
            data=blob.data, headers={"Content-Type": blob.media_type},
        )
        if r.status_code != 201:
            raise PushError(f"PUT manifest {reference}: {r.status_code} {r.text[:500]}")
        got = r.headers.get("Docker-Content-Digest")
        if got and got != blob.digest:
            raise PushError(f"registry stored manifest {reference} as {got}, expected {blob.digest}")


def push_image(
    base_url: str,
    image: TestImage,
    *,
    auth: tuple[str, str] | None = None,
    verify=True,
    session: requests.Session | None = None,
    tag: str | None = None,
    repository: str | None = None,
) -> str:
    """Push every blob, then every manifest children first, root last.

    ``tag`` replaces the image's own tag for the root (extra tags such as
    docker's ``amd64`` are pushed as they are); ``repository`` replaces the
    image's repository. Returns the root digest.
    """
    repo = repository or image.repository
    client = _Client(base_url, repo, auth=auth, verify=verify, session=session)
    for blob in image.plain_blobs():
        if not client.blob_exists(blob.digest):
            client.upload_blob(blob)
    for ref, blob in image.push_order:
        if tag is not None and ref == image.tag and blob.digest == image.root.digest:
            ref = tag
        client.put_manifest(ref, blob)
    return image.root.digest


def push_tags(
    base_url: str,
    repository: str,
    manifest_blob: Blob,
    tags: Iterable[str],
    *,
    auth: tuple[str, str] | None = None,
    verify=True,
    session: requests.Session | None = None,
    workers: int = 8,
) -> None:
    """PUT the same manifest under many tags, concurrently.

    The manifest's blobs (and children) must already be in ``repository``
    (push the image first). A given ``session`` is shared by all workers;
    otherwise each worker thread gets its own session.
    """
    tags = list(tags)
    client = _Client(base_url, repository, auth=auth, verify=verify, session=session)
    if not tags:
        return
    # Authenticate once up front so the workers do not all race for a token.
    client.put_manifest(tags[0], manifest_blob)
    rest = tags[1:]
    if not rest:
        return
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in pool.map(lambda t: client.put_manifest(t, manifest_blob), rest):
            pass


def seed_tags_on_disk(
    storage_root: str | os.PathLike,
    repository: str,
    manifest_digest: str,
    tags: Iterable[str],
) -> None:
    """Fast alternative to :func:`push_tags` for a *filesystem* registry.

    distribution 2.8 spends ~4 ms of CPU per manifest PUT, so 2,500 tags over
    HTTP take ~8 s on two cores. This writes the tag links straight into the
    storage directory (``storage.filesystem.rootdirectory``) in ~0.1 s. The
    manifest must already have been pushed to ``repository`` over HTTP; the
    registry must use no tag/blob-descriptor cache that could go stale (the
    default config has none). The registry does not need a restart.
    """
    algo, _, hexdigest = manifest_digest.partition(":")
    repo_dir = os.path.join(os.fspath(storage_root), "docker", "registry", "v2", "repositories", repository)
    revision = os.path.join(repo_dir, "_manifests", "revisions", algo, hexdigest, "link")
    if not os.path.exists(revision):
        raise PushError(f"{manifest_digest} was not pushed to {repository} under {storage_root}")
    tags_dir = os.path.join(repo_dir, "_manifests", "tags")
    link = manifest_digest.encode()
    for tag in tags:
        for sub in ("current", os.path.join("index", algo, hexdigest)):
            d = os.path.join(tags_dir, tag, sub)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "link"), "wb") as f:
                f.write(link)


def skopeo_inspect_raw(
    host_ref: str,
    *,
    tls_verify: bool = False,
    cert_dir: str | os.PathLike | None = None,
    creds: tuple[str, str] | str | None = None,
    timeout: float = 60,
) -> bytes:
    """``skopeo inspect --raw docker://HOST_REF``: the exact manifest bytes.

    ``host_ref`` is ``127.0.0.1:PORT/repo:tag`` or ``...@sha256:...``; a
    ``docker://`` prefix is optional. Raises ``subprocess.CalledProcessError``
    (with stderr) on failure.
    """
    ref = host_ref if host_ref.startswith("docker://") else "docker://" + host_ref
    cmd = ["skopeo", "inspect", "--raw", f"--tls-verify={'true' if tls_verify else 'false'}"]
    if cert_dir is not None:
        cmd += ["--cert-dir", os.fspath(cert_dir)]
    if creds is not None:
        cmd += ["--creds", creds if isinstance(creds, str) else f"{creds[0]}:{creds[1]}"]
    cmd.append(ref)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    res = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    if res.returncode != 0:
        raise subprocess.CalledProcessError(res.returncode, cmd, res.stdout, res.stderr)
    return res.stdout
