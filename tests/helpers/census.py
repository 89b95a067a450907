"""The census tests' registry and their independent oracle: the tables built one call at a time.

`walk_tables` uses only the single-image public API (`tags()`, `resolve()`, `manifest()`,
`image()`, `config()`, `referrers()` and the single-image frames), never the census code, so a
census that agrees with it row for row is right for the same reasons those calls are.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd
import pytest

import registry_explorer as rx
from helpers.ci import in_ci
from registry_explorer import frames
from registry_explorer.core import mediatypes as mt
from registry_explorer.frames.census_tables import TABLES, census_frame, to_json
from registry_explorer.sandbox.registry import RegistryBinaryMissing, start_registry
from registry_explorer.sandbox.samples_census import seed_census_on_disk

SMALL = {"teams": ("web", "data"), "repos_per_team": 4, "versions": 6}


@contextlib.contextmanager
def census_registry(workdir: Path, **seed_kw):
    """A real registry whose storage holds the census sample (small by default); yields (reg, sample)."""
    storage = Path(workdir) / "storage"
    sample = seed_census_on_disk(storage, **{**SMALL, **seed_kw})
    try:
        reg = start_registry("open", workdir, storage=storage)
    except RegistryBinaryMissing as exc:
        if in_ci():
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))
    with reg:
        yield reg, sample


def client(reg, tmp: Path, **kw) -> rx.Client:
    """A client for the census registry that reads no docker config of the machine's."""
    cfg = Path(tmp) / "docker-config.json"
    cfg.write_text("{}")
    return rx.Client(insecure=(reg.host,), docker_config=str(cfg), **kw)


def sort_table(df: pd.DataFrame) -> pd.DataFrame:
    """Rows in a canonical order (every column, as text) for row-for-row comparison."""
    key = df.astype(str)
    return df.loc[key.sort_values(list(df.columns)).index].reset_index(drop=True)


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    """Each table equal row for row after sorting (dtypes included)."""
    assert sorted(a) == sorted(b)
    for name in a:
        assert len(a[name]) == len(b[name]), name
        pd.testing.assert_frame_equal(sort_table(a[name]), sort_table(b[name]), obj=name)


def read_parquet_tables(out: Path, tables) -> dict[str, pd.DataFrame]:
    """Each table read back with plain pandas, normalised to the census dtypes."""
    from registry_explorer.frames.census_tables import normalize

    result = {}
    for t in tables:
        df = pd.read_parquet(out / t)
        df["repository"] = df["repository"].astype(str)
        result[t] = normalize(t, df)
    return result


def _config_row(where: dict, config) -> dict:
    j = config.json
    c = j.get("config") or {}
    return {**where, "digest": config.descriptor.digest, "created": j.get("created"), "os": j.get("os"),
            "architecture": j.get("architecture"), "variant": j.get("variant"),
            "entrypoint": to_json(c.get("Entrypoint")), "cmd": to_json(c.get("Cmd")), "user": c.get("User"),
            "working_dir": c.get("WorkingDir"), "env": to_json(c.get("Env") or []),
            "labels": to_json(c.get("Labels") or {})}


def walk_tables(cl: rx.Client, host: str, repositories: list[str]) -> dict[str, pd.DataFrame]:
    """The census tables, built by walking tags()/image()/config() one at a time."""
    rows: dict[str, list[dict]] = {t: [] for t in TABLES}  # the default tables (packages only on request)
    for repo in repositories:
        names = cl.tags(f"{host}/{repo}")
        rows["repositories"].append({"repository": repo, "tag_count": len(names)})
        for tag in names:
            ref = f"{host}/{repo}:{tag}"
            d = cl.resolve(ref)
            rows["tags"].append({"repository": repo, "tag": tag, "digest": d.digest, "media_type": d.media_type,
                                 "size": d.size})
            todo = [(cl.manifest(ref), None, 0, None)]
            seen = set()
            while todo:
                doc, parent, depth, plat = todo.pop()
                if doc.digest in seen:
                    continue
                seen.add(doc.digest)
                where = {"repository": repo, "tag": tag, "manifest_digest": doc.digest}
                rows["manifests"].append({**where, "parent_digest": parent, "depth": depth,
                                          "media_type": doc.media_type, "size": doc.descriptor.size,
                                          "artifact_type": doc.artifact_type,
                                          "subject": doc.subject.digest if doc.subject else None})
                if isinstance(doc, rx.Index):
                    pf = frames.platforms(doc)
                    pf["annotations"] = pf["annotations"].map(to_json)
                    rows["platforms"] += [{**where, **r} for r in pf.to_dict("records")]
                    for child in doc.manifests:
                        m = cl.manifest(ref, descriptor=child)
                        if child.platform is not None and not child.is_attestation:
                            # image() must pick this very manifest for its platform
                            assert cl.image(ref, str(child.platform)).digest == child.digest
                        todo.append((m, doc.digest, depth + 1, str(child.platform) if child.platform else plat))
                    continue
                config = cl.config(doc) if doc.config is not None and mt.is_config(doc.config.media_type) else None
                lf = frames.layers(doc, config)
                if config is None:
                    lf["diff_id"], lf["created_by"] = None, None
                lf["urls"] = lf["urls"].map(to_json)
                lf["annotations"] = lf["annotations"].map(to_json)
                rows["layers"] += [{**where, "platform": plat, **r} for r in lf.to_dict("records")]
                if config is not None:
                    rows["configs"].append(_config_row(where, config))
                    rows["history"] += [{**where, **r} for r in frames.history(config, doc).to_dict("records")]
                if doc.subject is not None:
                    rf = frames.referrers(cl, f"{host}/{repo}@{doc.subject.digest}")
                    rf = rf[rf["digest"] == doc.digest]
                    rf["annotations"] = rf["annotations"].map(lambda a: json.dumps(a, sort_keys=True,
                                                                                   separators=(",", ":")))
                    rows["referrers"] += [{"repository": repo, "tag": tag, "manifest_digest": doc.subject.digest,
                                           **r} for r in rf.to_dict("records")]
    return {t: census_frame(t, rs) for t, rs in rows.items()}


def demo_credentials() -> dict:
    """A named credential provider, as a worker calls it (`helpers.census:demo_credentials`)."""
    return {"registry.example": ("worker-user", "worker-secret")}
