"""BUILD stays honest: it covers every source file and names only files that exist.

Bazel cannot fetch its Python rules offline here, so this test parses BUILD (Starlark
is Python syntax) instead of building it.
"""

import ast
import glob
import os

from conftest import REPO

RULES = {"py_library", "py_binary", "py_test"}
SOURCE_DIRS = ("layernas_tf", "search_spaces", "experiments", "benchmarks")


def targets():
    tree = ast.parse(open(os.path.join(REPO, "BUILD")).read())
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in RULES:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            kwargs["rule"] = node.func.id
            assert kwargs["name"] not in found, f"target {kwargs['name']} is declared twice"
            found[kwargs["name"]] = kwargs
    return found


def test_every_source_and_test_file_is_covered():
    declared = {(t["rule"], src) for t in targets().values() for src in t.get("srcs", [])}
    covered = {src for _, src in declared}
    sources = {
        os.path.relpath(p, REPO)
        for d in SOURCE_DIRS
        for p in glob.glob(os.path.join(REPO, d, "**", "*.py"), recursive=True)
    }
    assert sorted(sources - covered) == []
    tests = {os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "tests", "test_*.py"))}
    assert sorted(t for t in tests if ("py_test", t) not in declared) == []


def test_every_named_file_and_dependency_exists():
    found = targets()
    assert found
    for name, target in found.items():
        for path in target.get("srcs", []) + target.get("data", []) + [target.get("main", "BUILD")]:
            assert os.path.isfile(os.path.join(REPO, path)), f"{name} names missing file {path}"
        for dep in target.get("deps", []):
            assert dep.startswith(":") and dep[1:] in found, f"{name} depends on unknown target {dep}"
        if target["rule"] == "py_binary":
            assert target["main"] in target["srcs"]
