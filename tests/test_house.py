"""The house rules, checked on the source: module and function sizes, an import graph without
cycles, subpackages layered so that no lower layer imports a higher one (as each subpackage's
``__init__`` declares), and a README architecture table that says what the code does."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "src" / "xpmlp"
FILES = sorted(PKG.rglob("*.py"))

MAX_MODULE_LINES = 400
MAX_FUNCTION_CODE_LINES = 60
#: The layers, bottom first.  A module may import its own subpackage and the layers below its own;
#: subpackages that share a layer never import each other.  Top-level modules import nothing.
LAYERS = [
    {"registry", "history", "_version", "_moved"},
    {"backends"},
    {"nn", "optim"},
    {"io"},
    {"training"},
    {"distributed"},
    {"estimators", "diagnostics"},
    {"app"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
#: The math: what it may never reach (directly or through another module).
MATH = {"backends", "nn", "optim", "registry"}
NOT_FOR_MATH = {"io", "training", "distributed", "estimators", "diagnostics", "app"}
#: The assembly of the public API: imports every layer, imported by none.
ASSEMBLY = {"__init__", "__main__"}


def module_name(path: Path) -> str:
    """``nn.network`` for src/xpmlp/nn/network.py, ``nn`` for its ``__init__``, ``__init__`` for the root's."""
    parts = list(path.relative_to(PKG).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in FILES}


def unit(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    return module.split(".")[0]


def _resolve(path: Path, node: ast.ImportFrom) -> list[str]:
    """The xpmlp modules an ``from ... import ...`` names (a name that is a module counts as one)."""
    if node.level:
        package = list(path.relative_to(PKG).parent.parts)
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    elif (node.module or "").startswith("xpmlp"):
        base = []
        node = ast.ImportFrom(module=node.module.partition(".")[2] or None, names=node.names, level=0)
    else:
        return []
    target = ".".join(base + ([node.module] if node.module else []))
    found = []
    for alias in node.names:
        sub = f"{target}.{alias.name}" if target else alias.name
        found.append(sub if sub in MODULES else (target or "__init__"))
    return found


def imports_of(path: Path) -> set[str]:
    """The xpmlp modules ``path`` imports, anywhere in the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(path, node))
        elif isinstance(node, ast.Import):
            found.update(a.name.partition(".")[2] for a in node.names if a.name.startswith("xpmlp."))
    return {m for m in found if m in MODULES} - {module_name(path)}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in GRAPH.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def declared_imports(package: str) -> set[str]:
    """What a subpackage's ``__init__`` says it may import (its ``May import:`` line)."""
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text())) or ""
    match = re.search(r"^May import: (.+?)\.?(?: \(.*\))?$", doc, flags=re.M)
    assert match, f"{package}/__init__.py does not say what it may import ('May import: ...')"
    text = match.group(1)
    return set() if text.startswith("nothing") else {w.strip() for w in text.split(",")}


def code_lines(node: ast.AST, source: list[str]) -> int:
    """Lines of a function that hold code: not blank, not comments, not its docstring."""
    body = node.body
    skip = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        skip = set(range(body[0].lineno, body[0].end_lineno + 1))
    lines = range(node.lineno, node.end_lineno + 1)
    return sum(1 for i in lines if i not in skip and source[i - 1].strip() and not source[i - 1].strip().startswith("#"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_module_and_function_sizes(path):
    source = path.read_text().splitlines()
    assert len(source) <= MAX_MODULE_LINES, f"{path.name} has {len(source)} lines (> {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse("\n".join(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = code_lines(node, source)
            assert n <= MAX_FUNCTION_CODE_LINES, f"{path.name}:{node.lineno} {node.name} has {n} code lines"


def test_the_package_root_holds_only_the_assembly_and_a_few_leaf_modules():
    top = {p.stem for p in PKG.glob("*.py")}
    assert top == ASSEMBLY | LAYERS[0], top
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK) - LAYERS[0], packages


def test_import_graph_has_no_cycle():
    cyclic = sorted(m for m in GRAPH if m in reachable(m))
    assert not cyclic, f"modules that import themselves through others: {cyclic}"


def test_no_layer_imports_a_higher_one_or_a_sibling():
    upward = sorted(
        f"{m} imports {dep}"
        for m, deps in GRAPH.items() if m not in ASSEMBLY
        for dep in deps
        if unit(dep) != unit(m) and (dep in ASSEMBLY or RANK[unit(dep)] >= RANK[unit(m)])
    )
    assert not upward, upward


@pytest.mark.parametrize("package", sorted(set(RANK) - LAYERS[0]))
def test_each_subpackage_says_what_it_may_import_and_keeps_to_it(package):
    declared = declared_imports(package)
    assert all(RANK[d] < RANK[package] for d in declared), f"{package} declares a layer above it: {declared}"
    used = {unit(dep) for m, deps in GRAPH.items() if unit(m) == package for dep in deps} - {package}
    assert used <= declared, f"{package} imports {sorted(used - declared)} beyond its declaration {sorted(declared)}"


def test_math_modules_never_import_training_io_or_interfaces():
    for m in sorted(GRAPH):
        if unit(m) in MATH:
            bad = {unit(d) for d in reachable(m)} & NOT_FOR_MATH
            assert not bad, f"math module {m} reaches {sorted(bad)}"


def test_readme_architecture_table_says_what_the_code_does():
    """README's table: every subpackage with its modules and what it may import, as the code has them."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+)/` \| ([^|]+) \| [^|]+ \| ([^|]+) \|$", text, flags=re.M)
    table = {pkg: ({m.strip(" `") for m in mods.split(",")}, set() if deps.strip() == "-" else
                   {d.strip() for d in deps.split(",")}) for pkg, mods, deps in rows}
    code = {pkg: ({p.name for p in (PKG / pkg).glob("*.py") if p.name != "__init__.py"}, declared_imports(pkg))
            for pkg in sorted(set(RANK) - LAYERS[0])}
    assert table == code, {k: (table.get(k), code.get(k)) for k in set(table) | set(code) if table.get(k) != code.get(k)}
