"""`docker://` for fsspec: pandas, Dask, DuckDB and pyarrow read files inside registry images.

    pd.read_csv("docker://127.0.0.1:5000/demo/data:1.0/data/table.csv")
    fsspec.filesystem("docker").ls("docker://127.0.0.1:5000/demo/data")      # the tags
    fsspec.filesystem("docker").ls("docker://127.0.0.1:5000")                # the catalog

Registered through the `fsspec.specs` entry point (pyproject.toml), so no import is needed. The
name is skopeo's and containers/image's for a registry image; `oci` is Oracle Cloud's in fsspec.
How a path splits into registry, repository, tag or digest and the path inside the image is
defined (and argued) in `registry_explorer.doors.dockerpath`. A thin layer: listing and reading are
`registry_explorer.imagefs.files`; this module only translates to fsspec's vocabulary.

storage_options: `platform` ("linux/arm64"; default linux/amd64), `client` (any `rx.Source`,
e.g. a configured `rx.Client` or an `rx.Layout`), or the keyword arguments of `rx.Client`
(`credentials`, `insecure`, `ca_bundle`, `timeout`, `retries`, ...) to build one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fsspec.spec import AbstractFileSystem

from ..core.errors import NotFound, PathNotFound, RegistryExplorerError, SymlinkLoop
from ..imagefs.filesystem import ImageFS
from ..sources.remote import Client
from . import dockerpath


class ReadOnly(RegistryExplorerError, PermissionError):
    """docker:// is read-only: a registry is written by pushing images, not files."""
    def __init__(self, what: str):
        super().__init__(f"docker:// is read-only ({what}): registry images are written by pushing an image, "
                         "for example with `skopeo copy` or `docker push`")


def _read_only(what: str):
    def refuse(self, *args, **kwargs):
        raise ReadOnly(what)

    refuse.__doc__ = f"Refused: {what} (docker:// is read-only)."
    return refuse


class _PerClient(type(AbstractFileSystem)):
    """fsspec reuses instances by the repr of their options; two Clients can share a repr (not their
    credentials or CA bundle), so a filesystem given a `client=` is never shared from that cache."""

    def __call__(cls, *args, **kwargs):
        if kwargs.get("client") is not None:
            kwargs.setdefault("skip_instance_cache", True)
        return super().__call__(*args, **kwargs)


class DockerFileSystem(AbstractFileSystem, metaclass=_PerClient):
    """Registries as a read-only filesystem: registry / repository / image:tag / path in the image."""
    protocol = ("docker",)
    root_marker = ""

    def __init__(self, platform: str | None = None, client: Any = None, **client_kwargs: Any):
        super().__init__(platform=platform, client=client, **client_kwargs)
        if client is None:
            client = Client(**client_kwargs)
        self.client = client
        self.platform = platform
        self._images: dict[str, ImageFS] = {}

    @classmethod
    def _strip_protocol(cls, path):
        """`docker://host/repo:tag/path/` -> `host/repo:tag/path`."""
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return dockerpath.strip(str(path))

    def _files(self, dp: dockerpath.DockerPath) -> ImageFS:
        key = dp.image_path
        files = self._images.get(key)
        if files is None:
            files = self._images[key] = ImageFS(self.client, dp.reference, self.platform)
        return files

    # -- reading ---------------------------------------------------------------------------

    def ls(self, path: str, detail: bool = True, **kwargs: Any):
        """The catalog (a registry), the tags (a repository) or a directory of the image."""
        dp = dockerpath.split(path)
        try:
            if not dp.repository:
                rows = [self._dir(f"{dp.registry}/{r}") for r in self.client.catalog(dp.registry)]
            elif not dp.image:
                rows = [self._dir(f"{dp.repository_path}:{t}") for t in sorted(self.client.tags(dp.repository_path))]
            else:
                files = self._files(dp)
                rows = [self._entry(dp, self._listed(files, p), p) for p in files.listdir(dp.inner or ".")]
        except NotFound as exc:
            raise PathNotFound(f"docker://{dockerpath.strip(path)}: {exc}") from exc
        return rows if detail else [r["name"] for r in rows]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """name, size, type ('file', 'directory' or 'other'), plus mode, mtime and layer for image entries."""
        dp = dockerpath.split(path)
        try:
            if not dp.image:
                if dp.repository:
                    self.client.tags(dp.repository_path)  # NotFound for an unknown repository
                return self._dir(dp.repository_path)
            if not dp.inner:
                self._files(dp).manifest  # noqa: B018 - NotFound for an unknown tag
                return self._dir(dp.image_path)
            files = self._files(dp)
            return self._entry(dp, files.info(dp.inner), dp.inner)
        except NotFound as exc:
            raise PathNotFound(f"docker://{dockerpath.strip(path)}: {exc}") from exc

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The bytes of a file inside an image, `start` to `end` (verified before they are returned)."""
        dp = self._image_file(path)
        return self._files(dp).read(dp.inner, start, end)

    def _open(self, path: str, mode: str = "rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode != "rb":
            raise ReadOnly(f"open(mode={mode!r})")
        dp = self._image_file(path)
        return self._files(dp).open(dp.inner)

    def modified(self, path: str) -> datetime:
        """The entry's mtime from its tar header."""
        return datetime.fromtimestamp(self.info(path).get("mtime", 0), tz=timezone.utc)

    def _image_file(self, path: str) -> dockerpath.DockerPath:
        dp = dockerpath.split(path)
        if not dp.image or not dp.inner:
            raise IsADirectoryError(f"docker://{dockerpath.strip(path)} is not a file inside an image "
                                    "(write docker://HOST/REPO:TAG/PATH)")
        return dp

    @staticmethod
    def _listed(files: ImageFS, path: str) -> dict[str, Any]:
        """info() of a listed entry; a link that leads nowhere (dangling, a loop) is listed, not fatal.

        A listing names entries, it does not read them: like fsspec's local filesystem, which lists a
        broken symlink as type 'other', one bad link must not make a whole directory unlistable.
        """
        try:
            return files.info(path)
        except (PathNotFound, SymlinkLoop):
            placed = files.entries().get(path)
            return {"name": path, "size": 0, "type": "other", "islink": True,
                    "entry_type": placed.entry.type if placed is not None else "symlink"}

    @staticmethod
    def _dir(name: str) -> dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    @staticmethod
    def _entry(dp: dockerpath.DockerPath, info: dict[str, Any], inner: str) -> dict[str, Any]:
        return {**info, "name": f"{dp.image_path}/{inner}"}

    # -- writing: refused ------------------------------------------------------------------

    mkdir = _read_only("mkdir")
    makedirs = _read_only("makedirs")
    rmdir = _read_only("rmdir")
    rm = _read_only("rm")
    rm_file = _read_only("rm_file")
    _rm = _read_only("rm")
    pipe_file = _read_only("pipe_file")
    put_file = _read_only("put_file")
    cp_file = _read_only("cp_file")
    mv = _read_only("mv")
    touch = _read_only("touch")
