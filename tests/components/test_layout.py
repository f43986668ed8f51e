"""The components' packages import only the packages before them, never Kedro, and no module cycles."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import socialml.components

ROOT = Path(socialml.components.__file__).parent
ORDER = ["core", "data", "evaluation", "text", "recsys", "audience"]
SIBLINGS = {"text", "recsys", "audience"}  # same rank: none may import another


def _modules() -> dict[str, Path]:
    return {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
            for path in ROOT.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module name imported anywhere in the file, top level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _project_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    prefix = "socialml.components."
    return {name.removeprefix(prefix) for name in _imports(path)
            if name.startswith(prefix) and name.removeprefix(prefix) in modules}


def test_every_package_and_module_says_what_it_holds():
    undocumented = [name for name, path in _modules().items() if not ast.get_docstring(ast.parse(path.read_text()))]
    assert not undocumented


@pytest.mark.parametrize("package", ORDER)
def test_a_package_imports_only_the_packages_before_it(package):
    modules = _modules()
    allowed = set(ORDER[: ORDER.index(package) + 1]) - (SIBLINGS - {package})
    wrong = {f"{name} imports {target}" for name, path in modules.items() if name.split(".")[0] == package
             for target in _project_imports(path, modules) if target.split(".")[0] not in allowed}
    assert not wrong


def test_components_know_nothing_of_kedro_or_the_pipelines():
    offenders = {name for name, path in _modules().items()
                 if any(i.split(".")[0] == "kedro" or i.startswith(("socialml.pipelines", "socialml.serving"))
                        for i in _imports(path))}
    assert not offenders


def test_no_import_cycles():
    modules = _modules()
    graph = {name: {t for t in _project_imports(path, modules) if t != name and "." in t}
             for name, path in modules.items()}
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError naming the cycle
