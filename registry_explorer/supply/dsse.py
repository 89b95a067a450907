"""DSSE envelopes and in-toto Statements (v0.1 and v1): subjects, predicate type, decoded payload.

DSSE: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md (payload and sig are base64;
signatures cover PAE(payloadType, payload), not the JSON). in-toto Statement:
https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md (v0.1 has the same fields).
BuildKit stores plain statements as layers; cosign and GitHub wrap them in DSSE. Both decode here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InvalidAttestation
from ._doc import STATEMENT_LIMIT, b64decode, digest_map, items, load_json, obj, text
from ._doc import frame as _frame

__all__ = [
    "DSSE_MEDIA_TYPE", "IN_TOTO_PAYLOAD_TYPE", "STATEMENT_TYPES", "Envelope", "Signature", "Statement", "Subject",
    "decode_envelope", "decode_statement", "pae",
]

# payloadType of an in-toto statement inside DSSE (in-toto attestation spec, "envelope" layer).
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")


@dataclass(frozen=True)
class Signature:
    """One DSSE signature: the key id (may be empty) and the raw signature bytes."""
    keyid: str
    sig: bytes = field(repr=False)


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope with its payload decoded from base64; `.raw` is the envelope's bytes."""
    raw: bytes = field(repr=False)
    payload_type: str
    payload: bytes = field(repr=False)
    signatures: tuple[Signature, ...]

    def pae(self) -> bytes:
        """The bytes the signatures cover (DSSE pre-authentication encoding)."""
        return pae(self.payload_type, self.payload)

    def frame(self):
        """One row per signature: keyid and signature length."""
        return _frame([{"keyid": s.keyid, "signature_bytes": len(s.sig)} for s in self.signatures],
                      ["keyid", "signature_bytes"])


@dataclass(frozen=True)
class Subject:
    """A statement subject: a name and its digests by algorithm."""
    name: str
    digest: dict[str, str]


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement: `_type`, subjects, predicateType and predicate; `.raw` the statement bytes."""
    raw: bytes = field(repr=False)
    type: str
    predicate_type: str
    subjects: tuple[Subject, ...]
    predicate: Any = field(repr=False, compare=False)
    envelope: Envelope | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        """'v0.1' or 'v1', from `_type`."""
        return self.type.rsplit("/", 1)[-1]

    def frame(self):
        """One row per (subject, digest algorithm): name, algorithm, digest."""
        rows = [{"name": s.name, "algorithm": alg, "digest": f"{alg}:{hexpart}"}
                for s in self.subjects for alg, hexpart in sorted(s.digest.items())]
        return _frame(rows, ["name", "algorithm", "digest"])

    def _repr_html_(self) -> str:
        """Rich HTML for Jupyter."""
        from .cards import statement_html  # display hook: supply/cards.py imports the decoders (a cycle at import time)

        return statement_html(self)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE PAE: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def decode_envelope(raw: Any, *, limit: int = STATEMENT_LIMIT) -> Envelope:
    """A DSSE envelope from bytes; payloadType must be a string, payload and every sig base64."""
    what = "DSSE envelope"
    data, doc = load_json(raw, limit, what)
    payload_type = doc.get("payloadType")
    if not isinstance(payload_type, str) or not payload_type:
        raise InvalidAttestation("payloadType is missing or not a string", what=what)
    payload = b64decode(doc.get("payload"), what + " payload")
    sigs = []
    for i, s in enumerate(items(doc.get("signatures"), what + " signatures")):
        if not isinstance(s, dict):
            raise InvalidAttestation(f"signatures[{i}] is not an object", what=what)
        sigs.append(Signature(keyid=text(s.get("keyid")) or "", sig=b64decode(s.get("sig"), f"{what} signatures[{i}]")))
    return Envelope(raw=data, payload_type=payload_type, payload=payload, signatures=tuple(sigs))


def decode_statement(raw: Any, *, limit: int = STATEMENT_LIMIT) -> Statement:
    """An in-toto Statement from a plain statement or from a DSSE envelope holding one.

    In an envelope, payloadType must be application/vnd.in-toto+json: a signature over another
    type says nothing about a statement, so a mismatch is refused rather than decoded.
    """
    data, doc = load_json(raw, limit, "in-toto statement")
    envelope = None
    if "payloadType" in doc and "_type" not in doc:
        envelope = decode_envelope(data, limit=limit)
        if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise InvalidAttestation(f"payloadType is {envelope.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE!r}",
                                     what="DSSE envelope")
        data, doc = load_json(envelope.payload, limit, "in-toto statement (DSSE payload)")
    what = "in-toto statement"
    st_type = doc.get("_type")
    if st_type not in STATEMENT_TYPES:
        raise InvalidAttestation(f"_type is {text(st_type)!r}, expected one of {', '.join(STATEMENT_TYPES)}", what=what)
    predicate_type = doc.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InvalidAttestation("predicateType is missing or not a string", what=what)
    subjects = []
    for i, s in enumerate(items(doc.get("subject"), what + " subjects")):
        if not isinstance(s, dict):
            raise InvalidAttestation(f"subject[{i}] is not an object", what=what)
        subjects.append(Subject(name=text(s.get("name")) or "", digest=digest_map(s.get("digest"))))
    return Statement(raw=data, type=st_type, predicate_type=predicate_type, subjects=tuple(subjects),
                     predicate=doc.get("predicate"), envelope=envelope)


def predicate_of(statement: Statement) -> dict:
    """The predicate as an object ({} when it is absent or not an object)."""
    return obj(statement.predicate)
