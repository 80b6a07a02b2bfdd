"""The house holds together: no import cycle among the project's modules, none among its Bazel targets."""

import ast
import os
import subprocess
import sys

from conftest import REPO

CYCLES_TOOL = os.path.join(os.path.dirname(REPO), "shared", "tools", "import_cycles.py")


def test_no_module_imports_itself_round_about():
    """Function-local imports included: `layernas_tf`, the spaces, the experiments and the benchmarks."""
    result = subprocess.run([sys.executable, CYCLES_TOOL, REPO, "layernas_tf", "search_spaces", "experiments",
                             "benchmarks"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "0 cycle(s)" in result.stdout, result.stdout


def test_no_bazel_target_depends_on_itself():
    tree = ast.parse(open(os.path.join(REPO, "BUILD"), encoding="utf-8").read())
    graph = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("py_"):
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            graph[keywords["name"]] = [d[1:] for d in keywords.get("deps", [])]

    def reaches(start, target, seen):
        return any(dep == target or (dep not in seen and not seen.add(dep) and reaches(dep, target, seen))
                   for dep in graph[start])

    assert [name for name in graph if reaches(name, name, set())] == []
