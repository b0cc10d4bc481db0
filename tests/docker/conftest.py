"""Static readers of docker-compose.yml, the Dockerfile and .dockerignore (no Docker needed).

The fixtures hand the tests parsed documents; `pytest_generate_tests` turns every CREDIT_*
variable and every `credit-pipeline` command line found in those files into a test case, so a
failure names the variable or the command.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
OUR_IMAGE = "credit-pipeline"
PROGRAM = "credit-pipeline"

# -- docker-compose.yml -----------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """`value` with Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$` expanded."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def expand(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.fullmatch(match["braced"])
        if braced is None:
            raise ValueError(f"unsupported interpolation {match[0]!r}")
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        present = name in env
        nonempty = bool(env.get(name))
        if op is None:
            return env.get(name, "")
        if op in (":-", "-"):
            use_default = not nonempty if op == ":-" else not present
            return arg if use_default else env[name]
        if op in (":?", "?"):
            if (op == ":?" and not nonempty) or not present:
                raise ValueError(f"{name} is required: {arg}")
            return env[name]
        set_ = nonempty if op == ":+" else present
        return arg if set_ else ""

    return _VARIABLE.sub(expand, value)


def environment_of(service: dict[str, Any]) -> dict[str, Any]:
    """A service's `environment` as a mapping (Compose accepts a mapping or `KEY=VALUE` list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return dict(env)


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    """The healthcheck's `test` as a list ([] when there is none or it is disabled)."""
    check = service.get("healthcheck") or {}
    if check.get("disable"):
        return []
    test = check.get("test") or []
    if isinstance(test, str):
        return ["CMD-SHELL", test]
    return [] if test == ["NONE"] else list(test)


@dataclass(frozen=True)
class Compose:
    """docker-compose.yml as written (`raw`) and with every variable at its default."""

    raw: dict[str, Any]
    resolved: dict[str, Any]

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.resolved["services"]

    def ours(self) -> dict[str, dict[str, Any]]:
        """The services built from this repository."""
        return {
            name: svc
            for name, svc in self.services.items()
            if "build" in svc or str(svc.get("image", "")).startswith(f"{OUR_IMAGE}:")
        }

    def env(self, name: str, *, raw: bool = False) -> dict[str, Any]:
        """The environment of service `name`, with variables expanded unless `raw`."""
        document = self.raw if raw else self.resolved
        return environment_of(document["services"][name])

    def healthcheck(self, name: str) -> list[str]:
        return healthcheck_command(self.services[name])

    def one_shot(self, name: str) -> bool:
        """A job that runs to completion (restart "no"), as opposed to a long-running server."""
        return str(self.services[name].get("restart", "no")) == "no"


def load_compose() -> Compose:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())  # SafeLoader resolves `<<:` merge keys
    # An empty environment: every `${VAR:-default}` takes its default, as on a fresh machine.
    return Compose(raw=raw, resolved=interpolate(raw, {}))


# -- Dockerfile -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the (continuation-joined) line

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT; fails on the shell form."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} must use the exec (JSON) form"
        return [str(item) for item in value]

    def words(self) -> list[str]:
        return shlex.split(self.args)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def find(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Build stages with their instructions (comments dropped, `\\` continuations joined)."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a line continuation"

    stages: list[Stage] = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=words[0], name=name))
            continue
        if not stages:
            if keyword == "ARG":
                continue  # global build arguments before the first FROM
            raise AssertionError(f"{keyword} before the first FROM")
        stages[-1].instructions.append(Instruction(keyword, args.strip()))
    return stages


# -- .dockerignore ----------------------------------------------------------------------------


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pattern_matches(pattern: str, path: str) -> bool:
    """Docker's matching, simplified: a pattern excludes a path or any directory above it."""
    pattern = pattern.strip("/")
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    if pattern.startswith("**/"):
        tail = pattern[3:]
        return any(
            fnmatch.fnmatchcase("/".join(parts[j : i + 1]), tail)
            for i in range(len(parts))
            for j in range(i + 1)
        )
    return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)


def excluded_from_context(path: str, patterns: list[str]) -> bool:
    """Whether `path` (relative to the repository root) is left out of the build context."""
    excluded = False
    for pattern in patterns:  # the last matching pattern wins; `!` re-includes
        negated = pattern.startswith("!")
        if _pattern_matches(pattern.lstrip("!"), path):
            excluded = not negated
    return excluded


# -- credit-pipeline command lines found in the deployment files -------------------------------


@dataclass(frozen=True)
class CommandLine:
    where: str  # e.g. "Dockerfile CMD", "service stream-processor"
    argv: tuple[str, ...]  # arguments after the `credit-pipeline` program name


def command_lines() -> list[CommandLine]:
    """Every argument vector the images hand to `credit-pipeline`."""
    found: list[CommandLine] = []
    final = parse_dockerfile(DOCKERFILE.read_text())[-1]
    entrypoint = final.find("ENTRYPOINT")[-1].exec_form()
    if entrypoint == [PROGRAM]:
        found.append(CommandLine("Dockerfile CMD", tuple(final.find("CMD")[-1].exec_form())))
    for name, service in load_compose().ours().items():
        command = service.get("command")
        if command is None:
            continue
        argv = shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        found.append(CommandLine(f"service {name}", tuple(argv)))
    return found


def service_variables() -> dict[str, list[str]]:
    """Every variable our services set, with the services that set it."""
    found: dict[str, list[str]] = {}
    for name, service in load_compose().ours().items():
        for variable in environment_of(service):
            found.setdefault(variable, []).append(name)
    return dict(sorted(found.items()))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "command_line" in metafunc.fixturenames:
        lines = command_lines()
        metafunc.parametrize(
            "command_line", lines, ids=[f"{c.where}: {' '.join(c.argv[:1])}" for c in lines]
        )
    if "service_variable" in metafunc.fixturenames:
        variables = list(service_variables().items())
        metafunc.parametrize("service_variable", variables, ids=[v for v, _ in variables])


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose() -> Compose:
    return load_compose()


@pytest.fixture(scope="session")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ignored() -> Callable[[str], bool]:
    """Whether .dockerignore keeps a repository path out of the build context."""
    patterns = dockerignore_patterns()
    return lambda path: excluded_from_context(path, patterns)
