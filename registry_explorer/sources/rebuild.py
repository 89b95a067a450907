"""Rebuilding a source elsewhere (a census worker, a Dask worker): the one place that builds a source from a description.

A source describes itself as a `protocol.SourceSettings` (`Client.settings()`, `Layout.settings()`:
picklable, no secret in it); `build_source` is the only code in the package that chooses a
source class from such a description.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from .layout import Layout
from .protocol import SourceSettings
from .remote import Client

__all__ = ["build_source", "shared_source"]

_SOURCES: dict[SourceSettings, Any] = {}
_SOURCES_LOCK = threading.Lock()


def shared_source(settings: SourceSettings):
    """The source these settings describe, built once per process and shared by its threads."""
    with _SOURCES_LOCK:
        src = _SOURCES.get(settings)
        if src is None:
            src = _SOURCES[settings] = build_source(settings)
        return src


def build_source(settings: SourceSettings):
    """A new source from its description (a Layout, or a Client with the worker's own credentials)."""
    if settings.kind == "layout":
        return Layout(settings.path, cache=settings.cache)
    if settings.kind != "registry":
        raise ValueError(f"unknown source kind {settings.kind!r}")
    creds = None
    if settings.credential_provider:
        module, _, func = settings.credential_provider.partition(":")
        if not func:
            raise ValueError("credential_provider must be 'module:function'")
        creds = getattr(importlib.import_module(module), func)()
    kw = dict(settings.extra)
    if settings.cache:
        kw["cache"] = settings.cache
    return Client(credentials=creds, docker_config=settings.docker_config, insecure=settings.insecure,
                  ca_bundle=settings.ca_bundle, timeout=settings.timeout, retries=settings.retries,
                  deadline=settings.deadline, **kw)
