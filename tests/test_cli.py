"""The bad-input contract of every entry point: status 2, one line, naming what is valid."""

import subprocess
import sys

import pytest

from layernas_tf import cli

PROGRAM = """
from absl import flags
from layernas_tf import cli
def define(values):
    flags.DEFINE_integer("n", 1, "a number", flag_values=values)
def main(values):
    with cli.bad_input():
        if values.n < 0:
            raise ValueError("n=%d must be >= 0,\\n a count" % values.n)
    if values.n == 7:
        raise ValueError("a bug, not bad input")
    print("ran", values.n)
cli.run(main, define)
"""


def run(*args):
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, fragment", [(["--n=-1"], "--n=-1 must be >= 0, a count"), (["--n=x"], "--n"),
                                            (["--m=1"], "m"), (["extra"], "unexpected arguments")])
def test_bad_input_exits_2_with_one_line(args, fragment):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error:" in result.stderr and fragment in result.stderr


def test_good_input_runs_and_bugs_are_not_disguised_as_bad_input():
    assert run("--n=3").stdout == "ran 3\n"
    bug = run("--n=7")
    assert bug.returncode == 1 and "Traceback" in bug.stderr


def test_bad_input_turns_value_errors_into_usage_errors():
    with pytest.raises(cli.UsageError, match="nope"):
        with cli.bad_input():
            raise ValueError("nope")
