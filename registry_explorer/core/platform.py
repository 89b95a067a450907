"""Platforms (`os/arch[/variant][:os.version]`) and how index entries are matched against them.

Normalisation follows containerd's `platforms` package: aarch64 is arm64, x86_64 is amd64,
arm64's v8 is its only variant, and plain arm means arm/v7.
https://github.com/containerd/platforms/blob/main/database.go
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidPlatform

DEFAULT_PLATFORM = "linux/amd64"

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
_ARCH_DEFAULT_VARIANT = {"armhf": "v7", "armel": "v6"}
_PART_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Platform:
    """The platform an image runs on; `str()` gives `os/arch[/variant][:os.version]`."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        if self.variant:
            out += f"/{self.variant}"
        if self.os_version:
            out += f":{self.os_version}"
        return out

    @property
    def is_unknown(self) -> bool:
        """True for BuildKit's `unknown/unknown` attestation entries, which are never images to run."""
        return self.os == "unknown" or self.architecture == "unknown"

    @classmethod
    def parse(cls, text: str | Platform) -> Platform:
        """Parse `os/arch`, `os/arch/variant` or `os/arch[/variant]:os.version`."""
        if isinstance(text, Platform):
            return text
        if not isinstance(text, str) or not text.strip():
            raise InvalidPlatform(f"invalid platform {text!r}: expected 'os/arch[/variant][:os.version]'")
        head, _, os_version = text.strip().partition(":")
        parts = head.split("/")
        if len(parts) not in (2, 3) or not all(p and _PART_RE.match(p) for p in parts):
            raise InvalidPlatform(
                f"invalid platform {text!r}: expected 'os/arch', 'os/arch/variant' or "
                "'os/arch[/variant]:os.version', e.g. 'linux/arm64' or 'linux/arm/v7'"
            )
        if ":" in text and not os_version:
            raise InvalidPlatform(f"invalid platform {text!r}: the os.version after ':' is empty")
        return cls(
            os=parts[0].lower(),
            architecture=parts[1].lower(),
            variant=parts[2].lower() if len(parts) == 3 else None,
            os_version=os_version or None,
        )

    @classmethod
    def from_json(cls, obj: Any) -> Platform | None:
        """Build from an OCI descriptor's `platform` object (None when absent or malformed)."""
        if not isinstance(obj, dict):
            return None
        os_ = obj.get("os")
        arch = obj.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            return None
        feats = obj.get("os.features") or ()
        return cls(
            os=os_,
            architecture=arch,
            variant=_text(obj.get("variant")),
            os_version=_text(obj.get("os.version")),
            os_features=tuple(f for f in feats if isinstance(f, str)) if isinstance(feats, list) else (),
        )

    def to_json(self) -> dict[str, Any]:
        """The OCI `platform` object."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def normalized(self) -> Platform:
        """containerd-style normal form, used only for comparison."""
        raw_arch = self.architecture.lower()
        arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
        variant = (self.variant or _ARCH_DEFAULT_VARIANT.get(raw_arch) or "").lower() or None
        if arch == "arm64" and variant in ("8", "v8", "v8.0"):
            variant = None
        elif arch == "arm":
            variant = variant or "v7"
            if variant and not variant.startswith("v"):
                variant = "v" + variant
        return Platform(self.os.lower(), arch, variant, self.os_version, self.os_features)

    def matches(self, candidate: Platform | None) -> bool:
        """True when `candidate` (an index entry) satisfies this wanted platform."""
        if candidate is None or candidate.is_unknown:
            return False
        want, have = self.normalized(), candidate.normalized()
        if want.os != have.os or want.architecture != have.architecture:
            return False
        # A variant only constrains when asked for (or implied, as arm implies v7).
        if (self.variant or want.architecture == "arm") and want.variant != have.variant:
            return False
        if want.os_version:
            hv = have.os_version or ""
            if not (hv == want.os_version or hv.startswith(want.os_version + ".")):
                return False
        return True


def select(wanted: str | Platform, candidates: Sequence[Any]) -> list[int]:
    """Indexes of `candidates` (objects with `.platform`) matching `wanted`, best first.

    Attestation (`unknown/unknown`) entries never match. Among matches, an exact variant match
    ranks above a variant the caller did not ask for; ties keep index order, as containerd does.
    """
    want = Platform.parse(wanted)
    norm = want.normalized()
    hits = []
    for i, c in enumerate(candidates):
        plat = getattr(c, "platform", None)
        if want.matches(plat):
            exact_variant = plat.normalized().variant == norm.variant
            hits.append((0 if exact_variant else 1, i))
    return [i for _, i in sorted(hits)]


def describe(candidates: Iterable[Any]) -> list[str]:
    """Platform strings of candidates, for error messages."""
    return [str(c.platform) for c in candidates if getattr(c, "platform", None) is not None]


def _text(value: Any) -> str | None:
    """A non-empty string from a document, else None (a number or a list is no variant)."""
    return value if isinstance(value, str) and value else None
