"""Running Postgres as an unprivileged OS user when the stack runs as root."""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from core.processes import RunAs
from local_stack.errors import StackPermissionError

logger = logging.getLogger(__name__)


def running_as_root() -> bool:
    """True when the effective user is root (Postgres binaries refuse to run then)."""
    return os.geteuid() == 0


def _lookup(name: str) -> RunAs | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid, home=entry.pw_dir)


def ensure_system_user(name: str) -> RunAs:
    """Look up `name`, creating it as a no-login system user if missing."""
    found = _lookup(name)
    if found is not None:
        if found.uid == 0:
            raise StackPermissionError(
                f"postgres: CREDIT_PG_SYSTEM_USER={name!r} is root, and Postgres refuses to run "
                "as root. Choose an unprivileged user name.",
                service="postgres",
            )
        return found
    useradd = shutil.which("useradd")
    if useradd is None:
        raise StackPermissionError(
            f"postgres: the stack runs as root, so Postgres must run as the unprivileged user "
            f"{name!r}, which does not exist, and `useradd` is not available to create it. "
            f"Create it yourself (e.g. `adduser -S {name}`) or run the stack as a normal user.",
            service="postgres",
        )
    logger.info("creating system user %r to run Postgres (the stack runs as root)", name)
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = _lookup(name)  # a concurrent `up` may have created it first: fine
    if found is None:
        raise StackPermissionError(
            f"postgres: could not create the system user {name!r} with useradd "
            f"(exit {result.returncode}): {result.stderr.strip()}",
            service="postgres",
        )
    return found


def _can_traverse(path: Path, user: RunAs, groups: set[int]) -> bool:
    info = path.stat()
    if info.st_uid == user.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def first_blocked_dir(path: Path, user: RunAs) -> Path | None:
    """The first directory on the way to `path` that `user` may not enter, if any."""
    groups = set(os.getgrouplist(user.name, user.gid))
    target = path.resolve()
    for directory in [*reversed(target.parents), target]:
        if directory.is_dir() and not _can_traverse(directory, user, groups):
            return directory
    return None


def _describe(directory: Path) -> str:
    info = directory.stat()
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    return f"mode {stat.filemode(info.st_mode)}, owner {owner}:{group}"


def require_reachable(path: Path, user: RunAs, *, what: str, remedy: str) -> None:
    """Fail with a precise message if `user` cannot reach `path`."""
    blocked = first_blocked_dir(path, user)
    if blocked is None:
        return
    raise StackPermissionError(
        f"postgres: the stack runs as root, so Postgres runs as the unprivileged user "
        f"{user.name!r}, but that user cannot enter {blocked} ({_describe(blocked)}) on the way "
        f"to {what} {path}. Either allow traversal with `chmod o+x {blocked}`, or {remedy}.",
        service="postgres",
    )


def allow_others_to_traverse(directory: Path) -> None:
    """Add o+x (enter, not list) to a directory this stack created."""
    mode = directory.stat().st_mode
    if not mode & stat.S_IXOTH:
        directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def chown_tree(root: Path, user: RunAs) -> None:
    """Give a directory tree to `user` (a data dir made by an earlier non-root run)."""
    os.chown(root, user.uid, user.gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), user.uid, user.gid, follow_symlinks=False)


def scratch_state_dir(prefix: str = "credit-stack-") -> Path:
    """A new temp dir the Postgres user can enter, for tests and throwaway stacks."""
    # pytest's tmp dirs sit under a 0700 root that every pytest session (even a concurrent
    # one) re-tightens, so as root they cannot hold a state dir, even after a chmod.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if running_as_root():
        allow_others_to_traverse(path)
    return path
