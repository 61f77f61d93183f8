"""The guard rails bite: ruff refuses a Django import in a pure module, the Django ban covers
every project module that imports Django, and mypy is strict where the house says it is.

Fast (one ruff run on stdin, an AST walk of the project, a TOML read): no Django, no database.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = (
    "calendars/businessdays.py",
    "windows/scheduling.py",
    "configuration/resolution.py",
    "flags/rollout.py",
)
PROJECT_PACKAGES = ("cbpconfig", "calendars", "configuration", "flags", "windows", "console")
# cbpconfig modules not yet typed (a "NOT YET TYPED" override in pyproject): the list only
# shrinks, and is empty since cbpconfig.console was typed (issue 13).
NOT_YET_TYPED: set[str] = set()
STRICT_FLAGS = (
    "disallow_untyped_defs",
    "disallow_incomplete_defs",
    "disallow_untyped_calls",
    "disallow_any_generics",
    "disallow_subclassing_any",
    "check_untyped_defs",
    "warn_return_any",
)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _ruff() -> str:
    found = Path(sys.executable).with_name("ruff")
    if found.exists():
        return str(found)
    on_path = shutil.which("ruff")
    if on_path is None:
        pytest.fail("ruff is not installed (requirements-dev.txt)")
    return on_path


def _ruff_on(path: str, source: str) -> subprocess.CompletedProcess[str]:
    """ruff with the project's configuration on ``source`` as if it were the file ``path``."""
    return subprocess.run(
        [
            _ruff(),
            "check",
            "--no-cache",
            "--config",
            str(ROOT / "pyproject.toml"),
            "--select",
            "TID",
            "--output-format",
            "concise",
            "--stdin-filename",
            path,
            "-",
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("module", PURE_MODULES)
def test_ruff_refuses_django_in_a_pure_module(module):
    source = (ROOT / module).read_text()
    clean = _ruff_on(module, source)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    for line in (
        "import django",
        "from rest_framework import serializers",
        "from calendars.models import Holiday",
        "from cbpconfig import settings",
        "from .models import X",
    ):
        dirty = _ruff_on(module, f"{source}\n{line}\n")
        assert dirty.returncode == 1, (line, dirty.stdout, dirty.stderr)
        assert "TID25" in dirty.stdout, (line, dirty.stdout)


def test_the_django_ban_applies_only_to_the_pure_modules():
    answer = _ruff_on("flags/services.py", "import django\n")
    assert answer.returncode == 0, answer.stdout + answer.stderr


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    imported: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            imported.add(name)
            imported.update(f"{name}.{alias.name}" for alias in node.names)
    return imported


def _banned(name: str, banned: set[str]) -> bool:
    return any(name == b or name.startswith(b + ".") for b in banned)


def test_every_project_module_that_imports_django_is_banned_in_the_pure_modules():
    """A new module that imports Django (directly or through another project module) must be
    added to the banned-api list, or a pure module could reach Django through it."""
    banned = set(_pyproject()["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"])
    third_party = {b for b in banned if b.split(".")[0] not in PROJECT_PACKAGES}
    modules = {
        _module_name(path): path
        for package in PROJECT_PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    imports = {name: _imports(path, name) for name, path in modules.items()}
    django = {
        name for name, names in imports.items() if any(_banned(i, third_party) for i in names)
    }
    grew = True
    while grew:
        grew = False
        for name, names in imports.items():
            if name not in django and names & django:
                django.add(name)
                grew = True
    pure = {m.removesuffix(".py").replace("/", ".") for m in PURE_MODULES}
    assert not django & pure, sorted(django & pure)
    missing = sorted(name for name in django if not _banned(name, banned))
    assert not missing, f"add to [tool.ruff.lint.flake8-tidy-imports.banned-api]: {missing}"


def test_mypy_is_strict_on_the_pure_modules_cbpconfig_and_the_console():
    mypy = _pyproject()["tool"]["mypy"]
    assert "mypy_django_plugin.main" in mypy["plugins"]
    assert _pyproject()["tool"]["django-stubs"]["django_settings_module"] == "cbpconfig.settings"
    strict = [o for o in mypy["overrides"] if all(o.get(flag) is True for flag in STRICT_FLAGS)]
    named = {
        m for o in strict for m in ([o["module"]] if isinstance(o["module"], str) else o["module"])
    }
    pure = {m.removesuffix(".py").replace("/", ".") for m in PURE_MODULES}
    assert pure | {"cbpconfig.*", "console.*"} <= named, sorted(named)
    # Nothing switches a strict flag back off for them, but the pinned not-yet-typed list.
    for override in mypy["overrides"]:
        modules = (
            override["module"] if isinstance(override["module"], list) else [override["module"]]
        )
        relaxed = [flag for flag in STRICT_FLAGS if override.get(flag) is False]
        if override.get("ignore_errors"):
            relaxed.append("ignore_errors")
        touched = {m for m in modules if m in pure or m.startswith(("cbpconfig", "console"))}
        if relaxed and touched:
            assert touched <= NOT_YET_TYPED, sorted(touched - NOT_YET_TYPED)


def test_make_test_runs_the_type_check():
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntypecheck:" in makefile
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "typecheck" in test_rule.split(":", 1)[1]
