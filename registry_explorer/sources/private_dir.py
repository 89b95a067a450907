"""A directory only its owner may write, walked without following a link: the cache's trust boundary.

What the cache holds is believed (a layer index cannot be re-checked without its whole layer), so
its directory is checked as ssh and gnupg check theirs: owned by the user and not writable by group
or others, else refused with one line saying what to do. Inside it nothing follows a symlink:
every directory is opened with O_NOFOLLOW relative to its parent's descriptor (openat), and every
file likewise, so a link planted inside cannot make a write land where it points, nor a read
come from there. Directories and files are created private (0700, 0600).

Where the platform lacks O_NOFOLLOW or descriptor-relative calls (Windows), paths are used as
they are and only the ownership check applies (Windows has no POSIX modes).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..core.errors import UnsafeCache

__all__ = ["DESCRIPTOR_RELATIVE", "check_root", "open_dir", "open_file_in", "opened_chain"]

# openat(2)-style calls with O_NOFOLLOW: POSIX systems; elsewhere the plain-path fallback.
DESCRIPTOR_RELATIVE = hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY") and os.open in os.supports_dir_fd \
    and os.mkdir in os.supports_dir_fd and os.unlink in os.supports_dir_fd
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _checked(fd: int, where: Path) -> int:
    """`fd` if it is a directory owned by this user and not writable by group or others; else UnsafeCache."""
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISDIR(st.st_mode):
        problem = "it is not a directory"
    elif hasattr(os, "getuid") and st.st_uid != os.getuid():
        problem = f"it belongs to uid {st.st_uid}, not to you (uid {os.getuid()})"
    elif st.st_mode & 0o022:
        problem = f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem:
        os.close(fd)
        raise UnsafeCache(f"refusing the cache directory {where}: {problem}; run `chmod go-w {where}` (or chown it), "
                          "pick another with cache=PATH, or pass cache=False")
    return fd


def check_root(root: Path, *, create: bool) -> int | None:
    """An open descriptor of the checked cache root (created private when `create`), or None if it is absent."""
    if create:
        created = not root.exists()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created:
            os.chmod(root, 0o700)  # mkdir's mode is masked by the umask
    try:
        fd = os.open(root, _DIR_FLAGS)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise UnsafeCache(f"refusing the cache directory {root}: it is not a directory; pass cache=PATH "
                          "or cache=False") from None
    return _checked(fd, root)


def open_dir(parent_fd: int, name: str, where: Path, *, create: bool) -> int | None:
    """The checked subdirectory `name` of `parent_fd`, never through a link; None if absent and not `create`."""
    for attempt in (0, 1):
        try:
            fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create or attempt:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            continue
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a planted link, or a file where a directory goes
                raise UnsafeCache(f"refusing {where / name} in the cache: it is a symlink or not a directory; "
                                  "remove it (the cache follows no links)") from None
            raise
        return _checked(fd, where / name)
    return None


@contextlib.contextmanager
def opened_chain(root: Path, names: list[str], *, create: bool) -> Iterator[int | None]:
    """The descriptor of `root/names[0]/names[1]/...`, each level checked and opened without following links."""
    fds: list[int] = []
    try:
        fd = check_root(root, create=create)
        if fd is None:
            yield None
            return
        fds.append(fd)
        where = root
        for name in names:
            fd = open_dir(fds[-1], name, where, create=create)
            if fd is None:
                yield None
                return
            fds.append(fd)
            where = where / name
        yield fds[-1]
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def open_file_in(dir_fd: int, name: str, flags: int, mode: int = 0o600) -> int:
    """os.open of `name` relative to `dir_fd`, never through a link (ELOOP on a symlink)."""
    return os.open(name, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode, dir_fd=dir_fd)
