"""Everything the toolkit shows, gathered as text: for the hostile tests of issue 21, classes 3 and 4.

A small hostile registry (a recording server) serves one image, a tag list, a missing manifest and
a token endpoint; a `Plant` says which field a server controls carries a planted value (a secret,
or terminal control characters). `gather` then runs the library, the `rx` command line (in this
process, in every output format) and the `%rx` magic against it, and returns every text they
produced: errors (str, repr, attributes), trace records (repr, rows, curl lines, HTML), frames,
reprs of the client and its parts, warnings, log records and the pickled settings sent to workers.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import pickle
import tarfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import registry_explorer as rx
from helpers.hostile import OCI_CONFIG, OCI_LAYER_GZ, OCI_MANIFEST, RecordingHandler, Seen, recording_server, sha256
from registry_explorer import frames
from registry_explorer.doors.cli import main as rx_main
from registry_explorer.doors.magic import RxMagic
from registry_explorer.html import trace_html

REPO = "team/app"
TOKEN = "tok-shown-UNLIKELY-4d2f"  # the Bearer token the hostile registry's token endpoint issues


def _layer() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/hello")
        data = b"hello\n"
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


LAYER = _layer()
CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": sha256(CONFIG), "size": len(CONFIG)},
                       "layers": [{"mediaType": OCI_LAYER_GZ, "digest": sha256(LAYER), "size": len(LAYER)}]}).encode()


@dataclass
class Plant:
    """Which server-controlled fields carry a planted value ({storage} and {registry} are filled in)."""

    location: str | None = None  # Location of the layer blob's 307 (to the storage server)
    link: str | None = None  # Link of the first tags page
    realm: str | None = None  # realm of a Bearer challenge (the registry then demands a token)
    error_body: dict | None = None  # body of the 404 for the missing manifest
    reason: str | None = None  # the reason phrase of that 404
    token_body: dict | None = None  # the token endpoint's JSON (the token itself is TOKEN)
    headers: dict[str, str] = field(default_factory=dict)  # extra headers on every registry answer
    tags: list[str] = field(default_factory=lambda: ["v1"])  # the tag list (first page)
    basic: bool = False  # the registry demands Basic credentials (any user and password)


def _fill(text: str | None, world: dict[str, str]) -> str | None:
    return text.format(**world) if text is not None else None


def _responder(plant: Plant, world: dict[str, str]):
    def respond(h: RecordingHandler, s: Seen) -> None:
        path = s.path.split("?", 1)[0]
        extra = {k: _fill(v, world) for k, v in plant.headers.items()}
        if path == "/token":
            return h.json(200, plant.token_body or {"token": TOKEN, "expires_in": 300}, extra)
        if plant.basic and not (s.header("Authorization") or "").startswith("Basic "):
            return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]},
                          {"WWW-Authenticate": 'Basic realm="shown"', **extra})
        if plant.realm and s.header("Authorization") != f"Bearer {TOKEN}":
            chal = f'Bearer realm="{_fill(plant.realm, world)}",service="shown"'
            return h.json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": chal, **extra})
        if path == "/v2/":
            return h.json(200, {}, extra)
        if path == f"/v2/{REPO}/manifests/v1" or path == f"/v2/{REPO}/manifests/{sha256(MANIFEST)}":
            return h.reply(200, MANIFEST, {"Content-Type": OCI_MANIFEST,
                                           "Docker-Content-Digest": sha256(MANIFEST), **extra})
        if path == f"/v2/{REPO}/blobs/{sha256(CONFIG)}":
            return h.reply(200, CONFIG, {"Content-Type": "application/octet-stream", **extra})
        if path == f"/v2/{REPO}/blobs/{sha256(LAYER)}":
            if plant.location:
                return h.reply(307, b"", {"Location": _fill(plant.location, world), **extra})
            return h.reply(200, LAYER, {"Content-Type": "application/octet-stream", **extra})
        if path.startswith("/storage"):
            return h.reply(200, LAYER, {"Content-Type": "application/octet-stream"})
        if path == f"/v2/{REPO}/tags/list":
            if "last=" in s.path:
                return h.json(200, {"name": REPO, "tags": ["v2"]}, extra)
            link = {"Link": _fill(plant.link, world)} if plant.link else {}
            return h.json(200, {"name": REPO, "tags": plant.tags}, {**link, **extra})
        body = json.dumps(plant.error_body or {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})
        h.send_response_only(404, plant.reason)
        for k, v in {"Content-Type": "application/json", "Content-Length": str(len(body)), **extra}.items():
            h._header(k, v)
        h._headers_buffer.append(b"\r\n" + body.encode())
        data, h._headers_buffer = b"".join(h._headers_buffer), []
        h.wfile.write(data)
    return respond


@contextlib.contextmanager
def hostile_registry(plant: Plant) -> Iterator[dict[str, str]]:
    """Start the registry and its storage host; yields {'registry': host:port, 'storage': host:port}."""
    world: dict[str, str] = {}
    with recording_server(lambda h, s: h.reply(200, LAYER)) as storage, \
            recording_server(lambda h, s: _responder(plant, world)(h, s)) as reg:
        world.update(registry=reg.host, storage=storage.host)
        yield world


def _texts_of_error(exc: BaseException | None) -> list[tuple[str, str]]:
    if exc is None:
        return []
    name = type(exc).__name__
    out = [(f"str({name})", str(exc)), (f"repr({name})", repr(exc)), (f"vars({name})", repr(vars(exc)))]
    cause = exc.__cause__ or exc.__context__
    return out + (_texts_of_error(cause) if cause is not None and cause is not exc else [])


def texts_of_client(client: Any) -> list[tuple[str, str]]:
    """The client's reprs and every trace record in every shown form, labelled."""
    out = [("repr(client)", repr(client)), ("repr(credentials)", repr(client.credentials)),
           ("repr(transport)", repr(client.transport)), ("repr(tokens)", repr(client.transport.tokens)),
           ("repr(trace)", repr(client.trace)), ("trace html", client.trace._repr_html_()),
           ("trace_html", trace_html(client.trace))]
    for ex in client.trace:
        out += [("repr(exchange)", repr(ex)), ("exchange row", str(ex.to_row())), ("as_curl", ex.as_curl()),
                ("as_curl(explain)", ex.as_curl(explain=True, assign_token=True)), ("exchange html", ex._repr_html_())]
    df = frames.trace(client)
    out += [("frames.trace", df.to_string()), ("frames.trace json", df.to_json(date_format="iso", default_handler=str))]
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """`rx ARGV` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = rx_main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@dataclass
class Gathered:
    """What one hostile run showed: every text, and the exit codes and outputs of the CLI runs."""

    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    cli: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    client: Any = None

    def all(self) -> list[tuple[str, str]]:
        """Every text with where it was shown (the CLI runs as `rx NAME`)."""
        return self.texts + [(f"rx {name}", o + "\n" + e) for name, (_, o, e) in self.cli.items()]

    def search(self, needles: list[str]) -> list[str]:
        """'needle… in where' for each needle found anywhere."""
        return sorted({f"{n[:12]}… in {where}" for where, text in self.all() for n in needles if n and n in text})


CLI_RUNS = {
    "trace-json": ["trace", "{ref}", "-o", "json"],
    "trace-table": ["trace", "{ref}", "-o", "table"],
    "trace-csv": ["trace", "{ref}", "-o", "csv"],
    "trace-curl": ["trace", "{ref}", "--curl", "--dir", "{tmp}"],
    "ls": ["ls", "{repo}"],
    "ls-table": ["ls", "{repo}", "-o", "table"],
    "missing": ["digest", "{missing}"],
}


def gather(plant: Plant, capsys, caplog, tmp_path, monkeypatch, *, cli: tuple[str, ...] = tuple(CLI_RUNS),
           docker_config: Callable[[str], dict] | None = None) -> Gathered:
    """Run everything against a registry serving `plant`; return what was shown.

    `docker_config(registry_host)` gives the docker config (written to a file that both the
    library's client and the CLI read); without it both read an empty one.
    """
    caplog.set_level(logging.DEBUG)
    got = Gathered()
    cfg_dir = tmp_path / "docker-config"
    cfg_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg_dir))
    with hostile_registry(plant) as world, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host = world["registry"]
        (cfg_dir / "config.json").write_text(json.dumps(docker_config(host) if docker_config else {}))
        ref, repo = f"{host}/{REPO}:v1", f"{host}/{REPO}"
        client = rx.Client(docker_config=str(cfg_dir), insecure=[host], retries=0, timeout=5, cache=False)
        calls = [lambda: client.resolve(ref), lambda: client.manifest(ref), lambda: client.config(ref),
                 lambda: client.blob(repo, rx.Descriptor(OCI_LAYER_GZ, sha256(LAYER), len(LAYER))),
                 lambda: client.tags(repo), lambda: client.manifest(f"{repo}:missing"),
                 lambda: frames.image_files(client, ref)]
        for call in calls:
            try:
                got.texts.append(("result", repr(call())[:2000]))
            except Exception as exc:  # noqa: BLE001 - every error's text is searched
                got.texts += _texts_of_error(exc)
        got.texts += texts_of_client(client)
        magic = RxMagic(client)
        for line in (f"digest {repo}:missing", f"trace {ref}", f"ls {repo}"):
            capsys.readouterr()
            result = magic(line)
            printed = capsys.readouterr()
            got.texts += [("%rx result", repr(result)[:5000]), ("%rx printed", printed.out + printed.err)]
        fill = {"ref": ref, "repo": repo, "missing": f"{repo}:missing", "layer": f"{repo}@{sha256(LAYER)}",
                "tmp": str(tmp_path / "curl")}
        for name in cli:
            argv = [a.format(**fill) for a in CLI_RUNS[name]]
            got.cli[name] = run_cli(capsys, "--insecure", host, *argv)
        got.texts.append(("pickled settings", pickle.dumps(client.settings(docker_config=str(cfg_dir))).decode("latin-1")))
        got.client = client
    got.texts += [("warning", str(w.message)) for w in caught]
    got.texts += [(f"log {r.name}", r.getMessage()) for r in caplog.records]
    return got
