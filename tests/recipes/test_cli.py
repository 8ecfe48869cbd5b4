"""The command line: bad flags and changed settings are one line with exit code 2; the old name points to the new."""

from __future__ import annotations

import shutil

from recipes.tiny_pair.cli import main
from tests.recipes.conftest import SMOKE, run_module


def test_bad_flags_exit_with_code_2(tmp_path, capsys):
    assert main(["--img-size", "60", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "img_size" in err and err.count("\n") == 1


def test_unknown_flag_is_one_line_without_traceback():
    done = run_module("recipes.tiny_pair", "--stepz", "3")
    assert done.returncode == 2
    assert "--stepz" in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_resume_with_changed_settings_is_a_usage_error(smoke_runs, tmp_path, capsys):
    shutil.copytree(smoke_runs[0], tmp_path / "run")
    argv = [*SMOKE, "--out", str(tmp_path / "run")]
    argv[argv.index("--batch-size") + 1] = "3"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "batch_size" in err and "--restart" in err and err.count("\n") == 1


def test_the_old_experiments_train_command_names_the_new_one():
    done = run_module("experiments", "train", "--steps", "3")
    assert done.returncode == 2 and done.stdout == ""
    assert "python -m recipes.tiny_pair" in done.stderr and done.stderr.count("\n") == 1
