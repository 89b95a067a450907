"""SLSA provenance v0.2 and v1: builder, build type, parameters and materials as rows.

v0.2: https://slsa.dev/spec/v0.2/provenance (builder.id, buildType, invocation, materials).
v1:   https://slsa.dev/spec/v1.0/provenance (buildDefinition.{buildType, externalParameters,
      resolvedDependencies}, runDetails.builder.id). BuildKit writes v0.2 (Docker Hub's alpine), newer
      builders v1. Both are read into one model so the notebook shows them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidAttestation
from ._doc import STATEMENT_LIMIT, compact, digest_map, items, obj, text
from ._doc import frame as _frame
from .dsse import Statement, decode_statement

__all__ = ["PROVENANCE_V02", "PROVENANCE_V1", "Material", "Provenance", "decode_provenance", "provenance_from"]

PROVENANCE_V02 = "https://slsa.dev/provenance/v0.2"
PROVENANCE_V1 = "https://slsa.dev/provenance/v1"

MATERIAL_COLUMNS = ["uri", "name", "algorithm", "digest"]
PARAMETER_COLUMNS = ["section", "key", "value"]


@dataclass(frozen=True)
class Material:
    """A material (v0.2) or resolved dependency (v1): where it came from and its digests."""
    uri: str
    name: str
    digest: dict[str, str]


@dataclass(frozen=True)
class Provenance:
    """SLSA provenance read from a statement; `.statement.raw` keeps the document's bytes."""
    statement: Statement = field(repr=False)
    version: str
    builder_id: str
    build_type: str
    parameters: dict[str, Any] = field(repr=False)
    materials: tuple[Material, ...]
    metadata: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def raw(self) -> bytes:
        """The statement (or DSSE envelope) bytes this was decoded from."""
        env = self.statement.envelope
        return env.raw if env is not None else self.statement.raw

    def frame(self):
        """One row per material / resolved dependency digest: uri, name, algorithm, digest."""
        rows = []
        for m in self.materials:
            for alg, hexpart in sorted(m.digest.items()) or [("", "")]:
                rows.append({"uri": m.uri, "name": m.name, "algorithm": alg,
                             "digest": f"{alg}:{hexpart}" if alg else ""})
        return _frame(rows, MATERIAL_COLUMNS)

    def parameters_frame(self):
        """One row per parameter: section (e.g. invocation.parameters), key, value as compact JSON."""
        rows = [{"section": section, "key": str(k), "value": compact(v)}
                for section, values in self.parameters.items() for k, v in obj(values).items()]
        return _frame(rows, PARAMETER_COLUMNS)

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        # display hook: supply/cards.py imports the decoders (a cycle at import time)
        from .cards import provenance_html

        return provenance_html(self)


def _materials(value: Any, what: str) -> tuple[Material, ...]:
    out = []
    for m in items(value, what):
        if isinstance(m, dict):
            out.append(Material(uri=text(m.get("uri")) or "", name=text(m.get("name")) or "",
                                digest=digest_map(m.get("digest"))))
    return tuple(out)


def provenance_from(statement: Statement) -> Provenance:
    """Read a decoded statement as SLSA provenance (v0.2 or v1, by predicateType)."""
    what = "SLSA provenance"
    pred = statement.predicate
    if not isinstance(pred, dict):
        raise InvalidAttestation("predicate is not an object", what=what)
    if statement.predicate_type == PROVENANCE_V02:
        invocation = obj(pred.get("invocation"))
        return Provenance(
            statement=statement, version="v0.2",
            builder_id=text(obj(pred.get("builder")).get("id")) or "",
            build_type=text(pred.get("buildType")) or "",
            parameters={"invocation.configSource": obj(invocation.get("configSource")),
                        "invocation.parameters": obj(invocation.get("parameters")),
                        "invocation.environment": obj(invocation.get("environment"))},
            materials=_materials(pred.get("materials"), what + " materials"),
            metadata=obj(pred.get("metadata")),
        )
    if statement.predicate_type == PROVENANCE_V1:
        definition, run = obj(pred.get("buildDefinition")), obj(pred.get("runDetails"))
        return Provenance(
            statement=statement, version="v1",
            builder_id=text(obj(run.get("builder")).get("id")) or "",
            build_type=text(definition.get("buildType")) or "",
            parameters={"externalParameters": obj(definition.get("externalParameters")),
                        "internalParameters": obj(definition.get("internalParameters"))},
            materials=_materials(definition.get("resolvedDependencies"), what + " resolvedDependencies"),
            metadata=obj(run.get("metadata")),
        )
    raise InvalidAttestation(f"predicateType {statement.predicate_type!r} is not SLSA provenance v0.2 or v1", what=what)


def decode_provenance(raw: Any, *, limit: int = STATEMENT_LIMIT) -> Provenance:
    """SLSA provenance from a plain in-toto statement or a DSSE envelope holding one."""
    return provenance_from(decode_statement(raw, limit=limit))
