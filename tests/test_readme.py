"""README's two commands stay true: CI runs the test command exactly, the main command names real things."""

import os
import re

from conftest import REPO


def commands():
    text = open(os.path.join(REPO, "README.md")).read()
    return [m.group(1) for m in re.finditer(r"^    (python3 -m venv .*)$", text, re.MULTILINE)][:2]


def test_ci_runs_the_readme_test_command_exactly():
    main, tests = commands()
    assert "pytest" in tests and "experiments.nats_bench" in main
    ci_lines = [line.strip() for line in open(os.path.join(REPO, ".ci", "run"))]
    assert tests in ci_lines


def test_main_command_points_at_existing_data_and_modules():
    main, _ = commands()
    table = re.search(r"--table=(\S+)", main).group(1)
    assert os.path.isfile(os.path.join(REPO, table))
    module = re.search(r"python -m (\S+)", main).group(1)
    assert os.path.isfile(os.path.join(REPO, *module.split(".")) + ".py")
