"""README's two commands stay true: CI runs the test command exactly, the main command names real things."""

import os
import re

from conftest import REPO


def commands():
    text = open(os.path.join(REPO, "README.md")).read()
    return [m.group(1) for m in re.finditer(r"^    (python3 -m venv .*)$", text, re.MULTILINE)][:2]


def test_ci_runs_the_readme_test_command_exactly():
    main, tests = commands()
    assert "pytest" in tests and "layernas_tf.main" in main
    ci_lines = [line.strip() for line in open(os.path.join(REPO, ".ci", "run"))]
    assert tests in ci_lines


def test_main_command_runs_on_the_embedded_dataset_with_flags_that_exist():
    from absl import flags  # pylint: disable=import-outside-toplevel

    from layernas_tf import main as main_module  # pylint: disable=import-outside-toplevel

    main, _ = commands()
    module = re.search(r"python -m (\S+)", main).group(1)
    assert module == "layernas_tf.main"
    assert "--dataset=digits" in main
    defined = flags.FlagValues()
    main_module.define_flags(defined)
    for name in re.findall(r"--(\w+)=", main):
        assert name in defined, name
