"""The commands that only read runs answer without torch: ``--help``, ``runs`` and ``report`` run in a fresh Python
whose ``sys.modules`` is read after the command; the packages' public names stay importable (lazily)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.experiments.helpers import REPO_ROOT, cli_env

HEAVY = ("torch", "timm", "datasets")


def _command_imports(*argv: str) -> dict:
    """Run ``experiments.__main__.main(argv)`` in a fresh Python; its exit code and which heavy packages it loaded."""
    code = f"""
import json, sys
from experiments.__main__ import main
try:
    code = main({list(argv)!r})
except SystemExit as stop:  # argparse's --help
    code = stop.code
print(json.dumps({{"code": code, "loaded": [m for m in {HEAVY!r} + ("matplotlib",) if m in sys.modules]}}))
"""
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["report", "--help"], ["replay", "--help"]])
def test_help_never_imports_torch(argv):
    got = _command_imports(*argv)
    assert got == {"code": 0, "loaded": []}


def test_runs_and_report_read_a_run_without_torch(swept_run):
    root, run_id = swept_run
    listed = _command_imports("runs", "--out", root)
    assert listed == {"code": 0, "loaded": []}
    reported = _command_imports("report", run_id, "--out", root)
    assert reported["code"] == 0 and reported["loaded"] == ["matplotlib"]  # the figure; nothing of the engine


def test_usage_errors_answer_without_torch(tmp_path):
    got = _command_imports("sweep", "--images", str(tmp_path), "--checkpoints", "x", "--seeds", "")
    assert got == {"code": 2, "loaded": []}


def test_the_public_names_stay_importable():
    code = """
import json, sys
import experiments, mae_core
light = [m for m in ("torch", "timm", "datasets", "matplotlib") if m in sys.modules]
names = {"experiments": sorted(experiments.__all__), "mae_core": sorted(mae_core.__all__)}
missing = [f"{p}.{n}" for p, ns in names.items() for n in ns if getattr(sys.modules[p], n, None) is None]
print(json.dumps({"light": light, "missing": missing, "counts": [len(names["experiments"]), len(names["mae_core"])],
                  "torch_after": "torch" in sys.modules}))
"""
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(), cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["light"] == [] and got["missing"] == [] and got["torch_after"] is True
    assert got["counts"] == [26, 73]  # every public name of the packages (the 62 exported eagerly, and 11 since)
    from experiments import run_sweep
    from experiments.sweep import run_sweep as defined
    from mae_core import check_seed, load_model
    from mae_core.checkpoints.loading import load_model as loader
    from mae_core.options import check_seed as defined_check

    assert run_sweep is defined and load_model is loader and check_seed is defined_check
