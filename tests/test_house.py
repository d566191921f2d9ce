"""The house rules, checked on the source: module and function sizes, an import graph without
cycles, math modules that never reach for training, files or user interfaces, and a README
layout table that says what the code does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "xpmlp"
MODULES = sorted(p for p in PKG.glob("*.py"))

MAX_MODULE_LINES = 400
MAX_FUNCTION_CODE_LINES = 60
#: The math: what it may never import (directly or through another module).
MATH = {"backend", "activations", "losses", "network", "updates", "fastpaths", "cuda_kernels", "optimizers",
        "registry", "init", "validation", "metrics", "objective", "xputil", "targets", "sparse"}
NOT_FOR_MATH = {"training", "io", "estimators", "cli", "callbacks", "stopping", "progress", "selftest", "workflows",
                "distributed", "export", "plotting"}


def imports_of(path: Path) -> set[str]:
    """The xpmlp modules ``path`` imports, anywhere in the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xpmlp."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("xpmlp."))
    return {m for m in found if (PKG / f"{m}.py").exists()} - {path.stem}


GRAPH = {p.stem: imports_of(p) for p in MODULES if p.stem not in ("__init__", "__main__")}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in GRAPH.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def code_lines(node: ast.AST, source: list[str]) -> int:
    """Lines of a function that hold code: not blank, not comments, not its docstring."""
    body = node.body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    lines = range(node.lineno, node.end_lineno + 1)
    return sum(1 for i in lines if i not in skip and source[i - 1].strip() and not source[i - 1].strip().startswith("#"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_and_function_sizes(path):
    source = path.read_text().splitlines()
    assert len(source) <= MAX_MODULE_LINES, f"{path.name} has {len(source)} lines (> {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse("\n".join(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = code_lines(node, source)
            assert n <= MAX_FUNCTION_CODE_LINES, f"{path.name}:{node.lineno} {node.name} has {n} code lines"


def test_import_graph_has_no_cycle():
    cyclic = sorted(m for m in GRAPH if m in reachable(m))
    assert not cyclic, f"modules that import themselves through others: {cyclic}"


def test_math_modules_never_import_training_io_or_interfaces():
    for m in sorted(MATH & set(GRAPH)):
        bad = reachable(m) & NOT_FOR_MATH
        assert not bad, f"math module {m} reaches {sorted(bad)}"


def test_readme_architecture_table_says_what_the_code_does():
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)\.py` \| [^|]+ \| ([^|]+) \|$", text, flags=re.M)
    table = {m: set() if deps.strip() == "-" else set(deps.strip().split(", ")) for m, deps in rows}
    assert table == GRAPH, {m: (table.get(m), GRAPH.get(m)) for m in set(table) | set(GRAPH)
                            if table.get(m) != GRAPH.get(m)}
