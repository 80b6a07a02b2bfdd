"""README's two commands stay true: CI runs the test command exactly, the main command names real things."""

import os
import re

import pytest

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
    assert "--dataset=noisy_digits" in main  # embedded: generated at run time, no download
    defined = flags.FlagValues()
    main_module.define_flags(defined)
    for name in re.findall(r"--(\w+)=", main):
        assert name in defined, name


def _blocks():
    text = open(os.path.join(REPO, "README.md")).read()
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def test_readme_is_short_and_points_to_docs_that_exist():
    text = open(os.path.join(REPO, "README.md")).read()
    assert len(text.splitlines()) <= 200
    for path in re.findall(r"`(docs/[\w.]+)`", text):
        assert os.path.isfile(os.path.join(REPO, path)), path


def test_flag_reference_is_generated_from_the_code():
    from layernas_tf import flag_reference  # pylint: disable=import-outside-toplevel

    with open(os.path.join(REPO, "docs", "flags.md"), encoding="utf-8") as f:
        assert f.read() == flag_reference.markdown(), \
            "docs/flags.md is stale: python -m layernas_tf.flag_reference > docs/flags.md"


def test_readme_code_blocks_compile_and_pass_only_real_settings():
    from absl import flags  # pylint: disable=import-outside-toplevel

    from layernas_tf import main as main_module  # pylint: disable=import-outside-toplevel

    defined = flags.FlagValues()
    main_module.define_flags(defined)
    blocks = _blocks()
    assert len(blocks) == 2
    for block in blocks:
        compile(block, "README.md", "exec")
        for call in re.findall(r"layernas_tf\.search\((.*?)\)\n", block, re.DOTALL):
            for name in re.findall(r"(\w+)=", call):
                assert name in defined, name


@pytest.mark.slow
def test_readmes_own_model_block_searches_and_its_answer_is_within_budget(tmp_path):
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    block = _blocks()[1].replace("max_trials=10", "max_trials=3")
    block += "\nassert result.best['costs']['madds'] <= 1e6\nprint('answer', result.best['arch'])\n"
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "answer " in done.stdout and (tmp_path / "runs" / "my_model" / "study.db").exists()
