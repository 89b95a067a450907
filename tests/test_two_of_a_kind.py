"""Two of a kind (issue 24, class 2): bugs that show only when two similar things meet.

Each fixture here has two: two tags of one repository with different bytes at one path, two
repositories in one Explorer, two repositories with a tag of the same name, two attestations
of which one names an image the index does not hold, two registries behind one token realm and
service with different images under the same name.
"""

from __future__ import annotations

import json
from pathlib import Path

import fsspec
import pytest
from helpers.clients import client_for
from helpers.path_image import OS_RELEASE, image

import registry_explorer as rx
from registry_explorer import supply
from registry_explorer.doors.dockerfs import DockerFileSystem
from registry_explorer.frames.census_tables import census_frame, tag_timeline
from registry_explorer.imagefs.filesystem import ImageFS
from registry_explorer.sandbox import certs
from registry_explorer.sandbox.push import push_image
from registry_explorer.sandbox.registry import start_registry
from registry_explorer.sandbox.tokenserver import TokenServer
from registry_explorer.widgets import ExplorerState

REAL = Path(__file__).parent / "fixtures" / "real"
ALPINE_INDEX = REAL / "index" / "dockerhub-alpine-3.23.2-oci-index-attestations.json"
OTHER = b"ID=other\nVERSION=9\n"


def _other(repository: str, tag: str):
    """The path-table image with different bytes at etc/os-release (a later member of the upper layer wins)."""
    return image(repository, tag, upper_extra=[("etc/os-release", "file", OTHER)])


# -- one docker:// filesystem, two tags of one repository ---------------------------------------------

@pytest.mark.integration
def test_one_docker_filesystem_reads_each_tag_of_a_repository(open_registry):
    """A cache keyed by repository instead of image would hand tag a's bytes to tag b (and back)."""
    push_image(open_registry.url, image("test/twotags", "a"), verify=open_registry.verify)
    push_image(open_registry.url, _other("test/twotags", "b"), verify=open_registry.verify)
    fsspec.register_implementation("docker", DockerFileSystem, clobber=True)
    fs = fsspec.filesystem("docker", client=client_for(open_registry), skip_instance_cache=True)
    base = f"docker://{open_registry.host}/test/twotags"
    for _ in range(2):  # and back again: the second round is where a cache answers
        for tag, want in (("a", OS_RELEASE), ("b", OTHER)):
            assert fs.cat_file(f"{base}:{tag}/etc/os-release") == want, tag
            assert fs.cat_file(f"{base}:{tag}/etc/abs") == want, f"{tag} through its absolute link"
            assert fs.info(f"{base}:{tag}/etc/os-release")["size"] == len(want)
            with fs.open(f"{base}:{tag}/etc/rel") as f:
                assert f.read() == want
    assert sorted(fs.ls(base, detail=False)) == [f"{open_registry.host}/test/twotags:{t}" for t in "ab"]


# -- the Explorer, two repositories ----------------------------------------------------------------------

def _tags_dir(reg, repo: str) -> Path:
    """Where distribution 2.8's filesystem driver keeps a repository's tags (the independent answer)."""
    return reg.storage / "docker" / "registry" / "v2" / "repositories" / repo / "_manifests" / "tags"


@pytest.mark.integration
def test_explorer_tags_tab_follows_the_repository(open_registry, images):
    """The Tags tab after resolving an image in another repository lists that repository's tags, not the old ones."""
    state = ExplorerState(client_for(open_registry))
    host = open_registry.host
    first, second = images["single"], images["multi"]
    tags = {img.repository: sorted(p.name for p in _tags_dir(open_registry, img.repository).iterdir())
            for img in (first, second)}
    assert tags[first.repository] != tags[second.repository], "the fixture needs two different tag lists"
    assert state.resolve(f"{host}/{first.repository}:{first.tag}")
    assert state.open_tab("Tags") and state.tags == tags[first.repository]
    assert state.resolve(f"{host}/{second.repository}:{second.tag}")
    assert state.tags == tags[second.repository], "the tab on screen lists the new repository's tags"
    assert state.open_tag(second.tag) and state.tags == tags[second.repository], "same repository: tags stay"
    state.open_tab("Layers")
    assert state.back()  # the first repository again, with the Tags tab off screen
    assert state.ref.name == f"{host}/{first.repository}"
    assert state.tags == [], "the other repository's tags are not shown for this one"
    state.open_tab("Tags")
    assert state.tags == tags[first.repository]


# -- frames.tag_timeline, two repositories with a tag of the same name ------------------------------------

def test_tag_timeline_keeps_each_repositorys_latest_date():
    """Two repositories both tag `latest`: each `latest` is dated by its own repository's image."""
    tags = census_frame("tags", [{"repository": r, "tag": t, "digest": d} for r, t, d in [
        ("team/api", "latest", "sha256:a2"), ("team/api", "1.0", "sha256:a1"),
        ("team/web", "latest", "sha256:w2"), ("team/web", "0.9", "sha256:w1")]])
    configs = census_frame("configs", [
        {"repository": "team/api", "tag": "1.0", "created": "2024-01-01T00:00:00Z", "os": "linux"},
        {"repository": "team/api", "tag": "latest", "created": "2024-03-01T00:00:00Z", "os": "linux"},
        {"repository": "team/web", "tag": "0.9", "created": "2023-06-01T00:00:00Z", "os": "linux"},
        {"repository": "team/web", "tag": "latest", "created": "2023-07-01T00:00:00Z", "os": "linux"}])
    out = tag_timeline(tags, configs).set_index(["repository", "tag"])
    created = {k: v.isoformat() for k, v in out["created"].items()}
    assert created == {("team/api", "1.0"): "2024-01-01T00:00:00+00:00",
                       ("team/api", "latest"): "2024-03-01T00:00:00+00:00",
                       ("team/web", "0.9"): "2023-06-01T00:00:00+00:00",
                       ("team/web", "latest"): "2023-07-01T00:00:00+00:00"}
    assert out.loc[("team/api", "latest"), "previous_tag"] == "1.0"
    assert out.loc[("team/web", "latest"), "previous_tag"] == "0.9"
    assert out.loc[("team/api", "latest"), "days_since_previous"] == 60.0
    assert out.loc[("team/web", "latest"), "days_since_previous"] == 30.0


# -- attestations: two, one of which names an image the index does not hold -----------------------------

def test_attestation_whose_subject_is_not_in_the_index_is_not_linked():
    """Alpine's real index with one attestation's subject changed to a digest the index does not list."""
    doc = json.loads(ALPINE_INDEX.read_bytes())
    atts = [m for m in doc["manifests"] if m.get("annotations", {}).get(supply.buildkit.REFERENCE_TYPE)]
    assert len(atts) >= 2, "the fixture needs two attestations"
    absent = "sha256:" + "0" * 64
    assert absent not in {m["digest"] for m in doc["manifests"]}
    atts[1]["annotations"][supply.buildkit.REFERENCE_DIGEST] = absent
    links = {lk.attestation_digest: lk for lk in supply.decode_index_attestations(json.dumps(doc).encode()).links}
    dangling, kept = links[atts[1]["digest"]], links[atts[0]["digest"]]
    assert (dangling.subject_digest, dangling.linked, dangling.subject_platform) == (absent, False, "")
    assert kept.linked and kept.subject_platform.startswith("linux/")
    assert sum(not lk.linked for lk in links.values()) == 1
    frame = supply.decode_index_attestations(json.dumps(doc).encode()).frame()
    assert frame.loc[frame["attestation_digest"] == atts[1]["digest"], "linked"].tolist() == [False]


# -- two registries behind one token realm and service -----------------------------------------------------

@pytest.fixture(scope="module")
def twin_registries(tmp_path_factory):
    """Two token registries that share one token server (one realm, one service), each with its own test/twin:v1."""
    workdir = tmp_path_factory.mktemp("twins")
    signing = certs.make_token_signing_key(workdir / "token")
    ts = TokenServer(signing.key, signing.cert, users={"alice": "s3cret"})
    regs = []
    try:
        for _ in range(2):
            regs.append(start_registry("token", workdir, token_server=ts))
        push_image(regs[0].url, image("test/twin", "v1"), auth=regs[0].auth)
        push_image(regs[1].url, _other("test/twin", "v1"), auth=regs[1].auth)
        yield regs, ts
    finally:
        for r in regs:
            r.stop()
        ts.stop()


@pytest.mark.integration
def test_two_registries_sharing_a_realm_keep_their_own_answers(twin_registries):
    """One client, two registries with the same realm and service and the same repository and tag: each answer
    (digest, file bytes, docker:// read, tag list) comes from the registry asked, in both orders."""
    (a, b), ts = twin_registries
    assert a.token_server is b.token_server and a.host != b.host
    client = rx.Client(credentials={a.host: a.auth, b.host: b.auth}, insecure=(a.host, b.host), docker_config={},
                       cache=False)
    want = {a.host: (image("test/twin", "v1").digest, OS_RELEASE), b.host: (_other("test/twin", "v1").digest, OTHER)}
    assert want[a.host][0] != want[b.host][0]
    fs = DockerFileSystem(client=client, skip_instance_cache=True)
    for host in (a.host, b.host, a.host, b.host):
        digest, body = want[host]
        ref = f"{host}/test/twin:v1"
        assert client.resolve(ref).digest == digest, host
        assert client.image(ref).digest == digest
        assert client.read_file(ref, "etc/abs") == body
        assert ImageFS(client, ref).read_file("etc/os-release") == body
        assert fs.cat_file(f"docker://{host}/test/twin:v1/etc/os-release") == body
        assert client.tags(f"{host}/test/twin") == ["v1"]
    hosts = {e.url.split("/")[2] for e in client.trace if "/v2/" in e.url}
    assert hosts == {a.host, b.host}, "both registries were asked"
    assert ts.count() > 0, "the shared token server issued the tokens"

