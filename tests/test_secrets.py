"""Secrets never leak: every public operation, then a search of logs, reprs, traces, HTML and written files."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from helpers.clients import seed
from helpers.hostile import fake_dns, leaks  # noqa: F401  (fake_dns is a fixture)
from helpers.hostile_hosts import SECRETS, cases, run

import registry_explorer as rx
from registry_explorer import frames
from registry_explorer.sandbox.registry import RegistryBinaryMissing, start_registry

pytestmark = pytest.mark.integration

USER = "secret-test-user"
PASSWORD = "Pw-7c1f-UNLIKELY-93ab"  # distinctive, so a hit can only be a leak


@pytest.fixture(scope="module", params=["htpasswd", "token"])
def reg(request, tmp_path_factory, images):
    try:
        r = start_registry(request.param, tmp_path_factory.mktemp("secrets"), username=USER, password=PASSWORD)
    except RegistryBinaryMissing as exc:
        pytest.skip(str(exc))
    try:
        seed(r, images)
        yield r
    finally:
        r.stop()


def _everything(client, reg, tmp_path: Path) -> list[str]:
    """Run every public operation; return every text the toolkit produced along the way."""
    h = reg.host
    texts: list[str] = []
    single, multi = f"{h}/test/single:v1", f"{h}/test/multi:v1"
    desc = client.resolve(single)
    m = client.manifest(single)
    idx = client.manifest(multi)
    arm = client.image(multi, platform="linux/arm64")
    cfg = client.config(arm)
    blob = client.blob(single, m.config)
    with client.open_blob(single, m.layers[0]) as s:
        s.read()
    client.fetch_blobs(single, m.layers, tmp_path / "blobs")
    texts += [str(client.tags(single)), str(client.catalog(h)), str(client.referrers(single))]
    lref = client.save_layout(multi, tmp_path / "layout")
    lay = rx.Layout(tmp_path / "layout")
    texts += [repr(lay.image(str(lref), platform="linux/amd64")), repr(lay.tags())]
    for df in (frames.platforms(idx), frames.layers(m, client.config(m)), frames.history(cfg),
               frames.tags(client, single), frames.referrers(client, single), frames.files(client, single, m.layers[0]),
               frames.image_files(client, single), frames.wasted(client, single),
               frames.compare(client, single, f"{h}/test/variant:v1"), frames.trace(client)):
        texts += [df.to_string(), df.to_json(date_format="iso", default_handler=str), repr(df.attrs)]
    for obj in (rx.parse_reference(single), desc, m, idx, cfg, client.trace):
        texts += [repr(obj), obj._repr_html_()]
    for ex in client.trace:
        texts += [repr(ex), str(ex.to_row()), ex.as_curl(), ex._repr_html_()]
    texts += [repr(client), repr(client.credentials), repr(client.transport), repr(blob[:0])]
    # The widget state goes through the same client.
    from registry_explorer.widgets import ExplorerState

    st = ExplorerState(client)
    st.resolve(multi)
    st.select([layer.digest for layer in st.manifest.layers])
    st.fetch(background=False, dest=str(tmp_path / "widget"))
    st.refresh_trace()
    texts += [st.status, st.error, repr(st.trace), str(st.fetched)]
    # Errors: wrong password, missing repository, unauthorized anonymous access.
    for bad in (rx.Client(credentials={h: (USER, PASSWORD + "x")}, insecure=(h,), docker_config={}, retries=0),
                rx.Client(docker_config={}, retries=0)):
        for call in (lambda c: c.manifest(single), lambda c: c.catalog(h)):
            try:
                call(bad)
            except rx.RegistryExplorerError as exc:
                texts += [str(exc), repr(exc), repr(getattr(exc, "errors", ""))]
        for ex in bad.trace:
            texts += [repr(ex), ex.as_curl(), ex._repr_html_()]
    try:
        client.manifest(f"{h}/test/nope:v1")
    except rx.NotFound as exc:
        texts += [str(exc), repr(exc)]
    return texts


def _secrets(client) -> list[str]:
    tokens = [t for t, _ in client.transport.tokens._tokens.values()]
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return [PASSWORD, basic, *tokens, *(t.rsplit(".", 1)[-1] for t in tokens)]


def test_no_secret_anywhere(reg, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    client = rx.Client(credentials={reg.host: (USER, PASSWORD)}, insecure=(reg.host,), docker_config={})
    texts = _everything(client, reg, tmp_path)
    texts.append(caplog.text)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 10, "the operations wrote files to search"
    secrets = _secrets(client)
    if reg.flavour == "token":
        assert len(secrets) > 2, "tokens were issued and are searched for"
    haystack = "\n".join(texts)
    leaks = [s for s in secrets if s in haystack]
    leaks += [f"{s[:6]}… in {p}" for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert leaks == []
    assert "Authorization" in haystack, "the search did cover request headers (redacted)"


# -- multi-host scenarios (issue 10, class 1) ------------------------------------------------------
# A hostile registry, or a host it redirects to, names another host in Link, Location or a realm.
# Every byte each foreign host received is searched for the password, the Basic value, the
# Bearer token and the identity token. No real registry is needed: all hosts are recording servers.


@pytest.mark.usefixtures("fake_dns")
@pytest.mark.parametrize(("scenario", "kind"), cases(), ids=lambda v: getattr(v, "name", v))
def test_no_secret_reaches_a_foreign_host(scenario, kind):
    w, client, _, exc = run(scenario, kind)
    assert w.servers["registry"].count() > 0, "the scenario reached the registry"
    found = {name: leaks_ for name in scenario.foreign if (leaks_ := _leaks_of(w, name))}
    assert found == {}, f"secrets reached foreign hosts: {found}"
    assert exc is None or isinstance(exc, rx.RegistryExplorerError), f"{type(exc).__name__} escaped: {exc}"
    texts = [str(exc), repr(exc), repr(client), repr(client.trace), *(ex.as_curl() for ex in client.trace)]
    assert [s for s in SECRETS if any(s in t for t in texts)] == [], "secrets in errors, reprs or the trace"


def _leaks_of(w, name: str) -> list[str]:
    return leaks(w.servers[name], SECRETS)
