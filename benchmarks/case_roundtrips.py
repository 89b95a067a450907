"""Case 3: requests (token requests included) to inspect an image and a multi-platform index, cold and warm."""

from __future__ import annotations

import json
from collections import Counter

from .common import CaseResult, Run, comparator
from .netproxy import BenchProxy

# What the protocol needs once the client knows the registry's auth scheme and holds a token:
# GET manifest (resolve + manifest in one) + GET config; for an index, one more GET for the child.
PROTOCOL = {"small": 2, "multi": 3}
SCOPES = 1  # one repository, pull only
PLATFORM = "linux/arm64"


def _summary(records: list[dict]) -> dict:
    kinds = Counter()
    for r in records:
        kinds[f"{r['method']} {r['kind']}" if r["kind"] not in ("token", "ping") else r["kind"]] += 1
    return {
        "total": len(records),
        "token": kinds.get("token", 0),
        "ping": kinds.get("ping", 0),
        "401": sum(1 for r in records if r["status"] == 401),
        "kinds": dict(sorted(kinds.items())),
        "requests": [f"{r['method']} {r['path'].split('?')[0]} -> {r['status']}" for r in records],
    }


def run(run: Run) -> CaseResult:
    res = CaseResult("3", "round_trips",
                     "Requests to inspect an image (manifest + config) and an index down to linux/arm64, "
                     "token registry, cold and warm",
                     params={"platform": PLATFORM, "protocol_minimum_warm": PROTOCOL})
    from registry_explorer.sandbox import certs
    from registry_explorer.sandbox.push import push_image
    from registry_explorer.sandbox.samples import build_images

    reg = run.registry("token")
    images = build_images(cached=True)
    for key in ("single", "multi"):
        push_image(reg.url, images[key], auth=reg.auth, verify=True)
    ts = reg.token_server
    tls = certs.make_tls_certs(run.tmp / "case3-certs")
    ca = str(tls.ca_cert)
    refs = {"small": "test/single:v1", "multi": "test/multi:v1"}

    import registry_explorer as rx

    with BenchProxy(reg.url, token_url=ts.url, tls=(str(tls.server_cert), str(tls.server_key))) as proxy:
        host = proxy.host

        def ours_factory():
            return rx.Client(docker_config={}, ca_bundle=ca, cache=False)

        def ours_op(client, which):
            ref = f"{host}/{refs[which]}"
            m = client.image(ref, platform=PLATFORM if which == "multi" else None)
            cfg = client.config(m)
            assert cfg.architecture == ("arm64" if which == "multi" else cfg.architecture)

        clients = {"ours": (ours_factory, ours_op)}
        if comparator(res, "dxf"):
            from dxf import DXF

            def dxf_factory(which):
                repo = refs[which].split(":")[0]
                return DXF(host, repo, auth=lambda d, r: d.authenticate(response=r), tlsverify=ca, timeout=30)

            def dxf_op(d, which):
                if which == "small":
                    raw, _ = d.get_manifest_and_response("v1")
                else:
                    raw = d.get_manifest("v1", platform=PLATFORM)
                cfg = json.loads(raw)["config"]["digest"]
                json.loads(b"".join(d.pull_blob(cfg)))

            clients["dxf"] = (dxf_factory, dxf_op)
        if comparator(res, "oras"):
            import logging

            import oras.provider

            logging.getLogger("oras").setLevel(logging.WARNING)

            def oras_factory():
                return oras.provider.Registry(hostname=host, tls_verify=ca)

            def oras_op(o, which):
                name = f"{host}/{refs[which]}"
                man = o.get_manifest(name)
                if which == "multi":
                    child = next(d for d in man["manifests"]
                                 if d.get("platform", {}).get("os") == "linux"
                                 and d.get("platform", {}).get("architecture") == "arm64")
                    man = o.get_manifest(f"{host}/{refs[which].split(':')[0]}@{child['digest']}")
                r = o.get_blob(name, man["config"]["digest"])
                r.raise_for_status()
                json.loads(r.content)

            clients["oras"] = (oras_factory, oras_op)

        counts: dict[str, dict] = {}
        for which in ("small", "multi"):
            for who, (factory, op) in clients.items():
                client = factory(which) if who == "dxf" else factory()
                for phase in ("cold", "warm"):
                    proxy.reset()
                    ts.reset()
                    op(client, which)
                    s = _summary(proxy.reset())
                    s["token_server_records"] = len(ts.records())
                    counts[f"{which} {phase} {who}"] = s

    label = {"small": "small image", "multi": "index -> linux/arm64"}
    for key, s in counts.items():
        which, phase, who = key.split()
        parts = ", ".join(f"{k} {v}" for k, v in s["kinds"].items()) + (f"; {s['401']} answered 401" if s["401"] else "")
        res.figure(f"{label[which]}, {phase}: {who} [{parts}]", s["total"], "req",
                   token_requests=s["token"], token_server_records=s["token_server_records"],
                   pings=s["ping"], unauthorized_401=s["401"], requests=s["requests"])
    for which in ("small", "multi"):
        for phase in ("cold", "warm"):
            ours = counts[f"{which} {phase} ours"]
            for who in clients:
                if who != "ours":
                    other = counts[f"{which} {phase} {who}"]
                    res.ratio(f"{label[which]}, {phase}: {who} requests / ours", other["total"] / ours["total"])
        need = PROTOCOL[which]
        warm = counts[f"{which} warm ours"]
        cold = counts[f"{which} cold ours"]
        res.target(f"{label[which]}, warm: requests <= {need}, no token, no ping", warm["total"],
                   f"<= {need}", warm["total"] <= need and warm["token"] == 0 and warm["ping"] == 0)
        work = cold["total"] - cold["token"] - cold["ping"]
        res.target(f"{label[which]}, cold: exactly {SCOPES} token request per scope (token server agrees)",
                   cold["token"], f"== {SCOPES}", cold["token"] == SCOPES and cold["token_server_records"] == SCOPES)
        res.target(f"{label[which]}, cold: at most one ping (auth scheme unknown) and <= {need} other requests",
                   cold["total"], f"<= {need + SCOPES + 1}", cold["ping"] <= 1 and work <= need)
    return res
