"""The Dockerfile and .dockerignore, checked without Docker."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

# python:3.11.<patch>-slim[-<debian>], optionally with a digest.
_PINNED_PYTHON = re.compile(r"^python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?$")


def _pyproject(repo_root: Path) -> dict[str, Any]:
    return tomllib.loads((repo_root / "pyproject.toml").read_text())


def test_multi_stage_build_on_one_pinned_python(stages: list[Any]) -> None:
    assert len(stages) >= 2 and stages[0].name == "builder"
    for stage in stages:
        assert _PINNED_PYTHON.match(stage.image), f"{stage.image} is not a pinned slim Python"
    # The venv copied from the builder links to the builder's interpreter path and version.
    assert {stage.image for stage in stages} == {stages[0].image}
    copies = [c.args for c in stages[-1].find("COPY")]
    assert "--from=builder /opt/venv /opt/venv" in copies


def test_runtime_runs_as_an_unprivileged_user(stages: list[Any]) -> None:
    users = stages[-1].find("USER")
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].args.partition(":")
    assert user not in {"root", "0"} and group not in {"root", "0"}, users[-1].args


def test_entrypoint_is_the_console_script(stages: list[Any], repo_root: Path) -> None:
    (entrypoint,) = stages[-1].find("ENTRYPOINT")
    assert entrypoint.exec_form() == ["credit-pipeline"]
    assert "credit-pipeline" in _pyproject(repo_root)["project"]["scripts"]
    assert stages[-1].find("CMD"), "no default CMD"


def test_dependencies_install_from_the_lock_before_the_source_is_copied(
    stages: list[Any],
) -> None:
    builder = stages[0].instructions
    keyword_args = [(i.keyword, i.args) for i in builder]
    lock_copy = keyword_args.index(("COPY", "requirements.lock ./"))
    installs = [n for n, (k, a) in enumerate(keyword_args) if k == "RUN" and "uv pip install" in a]
    assert len(installs) == 2, "one install of the lock, one of the project"
    deps, project = installs
    assert "--require-hashes -r requirements.lock" in builder[deps].args
    assert "--no-deps ." in builder[project].args
    source_copies = [n for n, (k, a) in enumerate(keyword_args) if k == "COPY" and n != lock_copy]
    # Only the lock is in the build context when the dependency layer is built, so a source
    # change reuses the cached dependencies.
    assert lock_copy < deps < min(source_copies) < project


def test_uv_is_pinned_to_the_run_script_version(stages: list[Any], repo_root: Path) -> None:
    run_script = (repo_root / "run").read_text()
    (expected,) = re.findall(r"^UV_VERSION=(\S+)$", run_script, flags=re.M)
    args = dict(a.args.split("=", 1) for a in stages[0].find("ARG") if "=" in a.args)
    assert args.get("UV_VERSION") == expected
    assert any('"uv==${UV_VERSION}"' in r.args for r in stages[0].find("RUN"))


def test_every_packaged_directory_is_copied(stages: list[Any], repo_root: Path) -> None:
    pyproject = _pyproject(repo_root)
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    copied = {
        source
        for c in stages[0].find("COPY")
        if not c.args.startswith("--")
        for source in c.words()[:-1]  # the last word is the destination
    }
    missing = {*packages, "pyproject.toml", pyproject["project"]["readme"]} - copied
    assert not missing, f"the builder does not copy {sorted(missing)}"


def test_state_and_model_directories_belong_to_the_runtime_user(
    stages: list[Any], compose: Any
) -> None:
    runtime = stages[-1]
    setup = " ".join(r.args for r in runtime.find("RUN"))
    for service in compose.ours():
        env = compose.env(service)
        for directory in (env["CREDIT_STATE_DIR"], env["CREDIT_MODEL_DIR"]):
            created = rf"install -d -o credit -g credit .*{re.escape(directory)}( |$)"
            assert re.search(created, setup), (
                f"{service}: {directory} is not created for the runtime user in the image"
            )
    assert runtime.find("WORKDIR")[-1].args == compose.env("init")["CREDIT_STATE_DIR"]


def _context_files(repo_root: Path, source: str) -> list[str]:
    path = repo_root / source
    if path.is_file():
        return [source]
    files = []
    for directory, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for filename in filenames:
            if not filename.endswith(".pyc"):
                files.append(str((Path(directory) / filename).relative_to(repo_root)))
    return files


def test_dockerignore_keeps_what_the_build_copies(
    stages: list[Any], repo_root: Path, ignored: Any
) -> None:
    sources = [
        source
        for stage in stages
        for copy in stage.find("COPY")
        if "--from" not in copy.args
        for source in copy.words()[:-1]  # the last word is the destination
        if not source.startswith("--")
    ]
    for source in sources:
        kept = _context_files(repo_root, source)
        assert kept, f"COPY {source}: nothing to copy"
        dropped = [f for f in kept if ignored(f)]
        assert not dropped, f".dockerignore drops files the Dockerfile copies: {dropped[:5]}"


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".credit-pipeline/run/kafka.pid",
        "artifacts/models/latest.joblib",
        "credit_pipeline/__pycache__/cli.cpython-311.pyc",
        "stream_processor/app.pyc",
        ".pytest_cache/v/cache",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/content",
        ".env",
    ],
)
def test_dockerignore_leaves_local_state_out(path: str, ignored: Any) -> None:
    assert ignored(path), f"{path} would be sent to the build"
