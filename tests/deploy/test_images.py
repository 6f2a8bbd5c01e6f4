"""The images, checked without a Docker engine: BuildKit's own parser, hadolint, and the proof that each
service's image installs every distribution its code imports (and, for the gateway, no torch)."""

import ast
import importlib.metadata as metadata
import shutil
import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "embedder", "retriever", "generator", "ingest")


@pytest.fixture(scope="module")
def instructions() -> list:
    return dockerfile.parse_file(str(ROOT / "Dockerfile"))


def _stages(instructions) -> dict[str, list]:
    # Instructions before the first FROM (global ARGs) belong to no stage.
    stages: dict[str, list] = {"global": []}
    current = "global"
    for command in instructions:
        if command.cmd == "FROM":
            current = command.value[-1] if "AS" in [v.upper() for v in command.value] else command.value[0]
            stages[current] = []
        stages[current].append(command)
    return stages


def test_every_service_has_a_target_that_runs_it_as_a_non_root_user(instructions):
    stages = _stages(instructions)
    runtime_users = [c.value[0] for c in stages["runtime"] if c.cmd == "USER"]
    assert runtime_users and not runtime_users[-1].startswith(("0", "root"))
    for service in SERVICES:
        stage = stages[service]
        assert stage[0].value[0] == "runtime", f"{service} must build on the non-root runtime stage"
        (cmd,) = [c for c in stage if c.cmd == "CMD"]
        assert list(cmd.value) == ["python", "-m", f"services.{service}"]
        assert (ROOT / "services" / service / "__main__.py").exists()
        copies = [c.value for c in stage if c.cmd == "COPY"]
        assert copies == [("/opt/venv", "/opt/venv")] and any(
            f"--from=build-{service}" in f for c in stage for f in c.flags
        )


def test_the_base_image_is_pinned(instructions):
    args = {
        c.value[0].split("=")[0]: c.value[0].split("=", 1)[1]
        for c in instructions
        if c.cmd == "ARG" and "=" in c.value[0]
    }
    base = args["PYTHON_IMAGE"]
    assert ":" in base and not base.endswith(":latest") and base.split(":")[1][0].isdigit(), base


def test_the_build_context_is_only_what_the_images_need():
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*" and {"!pyproject.toml", "!README.md", "!ragmesh/", "!services/"} <= set(ignore)


def test_hadolint_finds_nothing():
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _optional(tree: ast.AST) -> set[int]:
    """ids of import nodes inside `try: ... except ImportError:`: optional, with a fallback in the code."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            guarded.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return guarded


def _imports(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        optional = _optional(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("services", "ragmesh", "__future__")}


def _closure(requirements: list[Requirement], extra: str) -> set[str]:
    """Every distribution that installing these requirements brings, by normalised name."""
    seen: set[str] = set()
    queue = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": extra})]
    while queue:
        requirement = queue.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            child = Requirement(text)
            if child.marker is None or child.marker.evaluate({"extra": ""}):
                queue.append(child)
    return seen


def _own_requirements(extra: str) -> list[Requirement]:
    """ragmesh's core requirements plus one extra (with `all` style self-references expanded)."""
    chosen = []
    for text in metadata.requires("ragmesh") or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
            chosen.append(requirement)
    return chosen


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_installs_every_distribution_its_service_imports(service):
    code = [*(ROOT / "services" / service).rglob("*.py"), *(ROOT / "services" / "runtime").rglob("*.py")]
    code += list((ROOT / "ragmesh").glob("*/v1/*.py"))
    # The SQL plumbing, for the services that keep records.
    if any("services.records" in path.read_text() for path in code):
        code += list((ROOT / "services" / "records").glob("*.py"))
    installed = _closure(_own_requirements(service), service)
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["?"])
        for module in _imports(code)
        if not {d.lower().replace("_", "-") for d in providers.get(module, [module])} & installed
    }
    assert not missing, f"the {service} image lacks: {missing}"
    if service != "embedder":
        assert "torch" not in installed, f"the {service} image would carry torch"
