"""``python -m mae_core checkpoints|download|verify`` in a subprocess, pointed at caches built in tmp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mae_core.__main__ import main
from mae_core.checkpoints.checkpoint_files import save_checkpoint
from tests.conftest import make_model
from tests.fake_caches import add_to_hf_cache

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    """Caches in tmp with one checkpoint in each; a registry file adding two local entries; offline."""
    hf, torch_home = tmp_path / "hf", tmp_path / "torch"
    weights = tmp_path / "w.safetensors"
    save_checkpoint(make_model(), weights, loss_type="pixel")
    add_to_hf_cache(hf, "facebook/vit-mae-base", {"model.safetensors": weights})
    hub = torch_home / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "mae_visualize_vit_large_ganloss.pth").write_bytes(b"g" * 2048)
    spec = {
        "checkpoints": {
            "good": {"architecture": "tiny", "loss_type": "pixel", "sources": [{"file": str(weights)}]},
            "tampered": {
                "architecture": "tiny",
                "loss_type": "gan",
                "sources": [{"file": str(weights), "sha256": "f" * 64}],
            },
        }
    }
    (tmp_path / "reg.json").write_text(json.dumps(spec))
    return {
        **os.environ,
        "HF_HUB_CACHE": str(hf),
        "TORCH_HOME": str(torch_home),
        "MAE_CHECKPOINTS_FILE": str(tmp_path / "reg.json"),
        "MAE_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    }


def _run(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "mae_core", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_checkpoints_lists_status_and_size(env, tmp_path):
    result = _run(env, "checkpoints")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert {"vit-large-pixel", "vit-large-gan", "vit-base-pixel", "tiny-pixel", "good", "tampered"} <= set(rows)
    assert " cached " in rows["vit-base-pixel"] and "models--facebook--vit-mae-base" in rows["vit-base-pixel"]
    assert " cached " in rows["vit-large-gan"] and "2.0 KB" in rows["vit-large-gan"]
    assert " missing " in rows["vit-large-pixel"] and "1.3 GB" in rows["vit-large-pixel"]
    assert " local " in rows["good"]


def test_download_offline_is_one_line_and_exit_1(env):
    result = _run(env, "download", "vit-large-pixel")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "python -m mae_core download vit-large-pixel" in result.stderr


def test_download_offline_names_the_variable_to_unset_or_a_connected_machine(env):
    result = _run({**env, "HF_HUB_OFFLINE": "1"}, "download", "vit-large-pixel")
    assert result.returncode == 1
    message = result.stderr
    assert "downloads are off because HF_HUB_OFFLINE and MAE_OFFLINE are set: unset them" in message
    assert "`env -u HF_HUB_OFFLINE -u MAE_OFFLINE python -m mae_core download vit-large-pixel`" in message
    assert "fetch it on a machine with internet (`python -m mae_core download vit-large-pixel`)" in message


def test_download_of_a_url_offline_suggests_commands_that_work(env):
    url = "https://example.org/weights/model-v2.pth"
    result = _run({**env, "MAE_OFFLINE": "yes"}, "download", url)
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert "because MAE_OFFLINE is set: unset it" in result.stderr
    assert f"`env -u MAE_OFFLINE python -m mae_core download {url}`" in result.stderr
    assert f"(`python -m mae_core download {url}`)" in result.stderr
    assert "download model-v2.pth" not in result.stderr  # the file name alone is not something download resolves


def test_download_reports_every_name(env):
    result = _run(env, "download", "vit-large-pixel", "vit-large-gan", "no-such-model")
    assert result.returncode == 1
    assert "vit-large-gan: " in result.stdout and "(torch hub cache)" in result.stdout  # after a failure, still tried
    errors = result.stderr.strip().splitlines()
    assert [line.split(":", 2)[1].strip() for line in errors[:2]] == ["vit-large-pixel", "no-such-model"]
    assert errors[2] == "error: 2 of 3 checkpoints could not be fetched"
    assert "Traceback" not in result.stderr


def test_download_of_a_file_already_on_disk_works_offline(env, monkeypatch, capsys):
    for key in ("HF_HUB_CACHE", "TORCH_HOME", "MAE_CHECKPOINTS_FILE", "MAE_OFFLINE"):
        monkeypatch.setenv(key, env[key])
    assert main(["download", "vit-large-gan"]) == 0  # in-process: one interpreter start per test is enough
    assert "mae_visualize_vit_large_ganloss.pth (torch hub cache)" in capsys.readouterr().out


def test_verify_reports_ok_unverified_mismatch_and_missing(env):
    result = _run(
        env, "verify", "vit-base-pixel", "good", "tampered", "nope", "--registry", env["MAE_CHECKPOINTS_FILE"]
    )
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["vit-base-pixel"].startswith("ok")  # checked against the Hub blob's sha256 name
    assert lines["good"].startswith("unverified")
    assert lines["tampered"].startswith("MISMATCH expected " + "f" * 64)
    assert lines["nope"] == "missing"
    assert result.returncode == 1
