"""Real downloads over HTTP from a server on 127.0.0.1: the URL path of the loader and ``python -m mae_core download``
(torch.hub's downloader into ``$TORCH_HOME/hub/checkpoints``, sha256 checked, nothing left behind on failure)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mae_core.loading import CheckpointNotFoundError, HashMismatchError, load_model
from tests.conftest import make_model
from tests.fake_caches import PRESET_WIDTH_CONFIG, official_state

REPO = Path(__file__).resolve().parents[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A static file server on a free loopback port; yields (base URL, served folder, request count)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", folder
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def published(server, tmp_path, monkeypatch):
    """An official-format .pth served over HTTP and a registry file naming it, with its true sha256 ("served")
    and a wrong one ("tampered"); empty caches in tmp."""
    base, folder = server
    reference = make_model(PRESET_WIDTH_CONFIG, seed=3)
    path = folder / "mae_custom_visualize.pth"
    torch.save({"model": official_state(reference)}, path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    url = f"{base}/{path.name}"
    spec = {
        "checkpoints": {
            "served": {"architecture": "custom", "loss_type": "gan", "sources": [{"url": url, "sha256": sha}]},
            "tampered": {"architecture": "custom", "loss_type": "gan", "sources": [{"url": url, "sha256": "0" * 64}]},
            "gone": {"architecture": "custom", "loss_type": "pixel", "sources": [{"url": f"{base}/nothing.pth"}]},
        }
    }
    registry_file = tmp_path / "registry.json"
    registry_file.write_text(json.dumps(spec))
    env = {
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "MAE_CHECKPOINTS_FILE": str(registry_file),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("MAE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    return {"reference": reference, "env": env, "cache": tmp_path / "torch" / "hub" / "checkpoints" / path.name}


def test_cli_download_fetches_into_the_torch_hub_cache_then_loads_offline(published):
    env = {**os.environ, **published["env"], "PYTHONPATH": str(REPO)}
    env.pop("MAE_OFFLINE", None)
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run(
        [sys.executable, "-m", "mae_core", "download", "served"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert published["cache"].is_file()
    assert "torch hub cache" in result.stdout
    model = load_model("served", offline=True)  # from the cache now, no server needed
    assert model.checkpoint_info.loss_type == "gan"
    for name, tensor in published["reference"].state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name


def test_load_model_downloads_when_allowed(published):
    model = load_model("served", offline=False)
    assert published["cache"].is_file()
    assert model.checkpoint_info.sha256 == hashlib.sha256(published["cache"].read_bytes()).hexdigest()


def test_wrong_sha256_is_refused_and_leaves_nothing_in_the_cache(published):
    with pytest.raises(HashMismatchError, match="sha256"):
        load_model("tampered", offline=False)
    folder = published["cache"].parent
    assert not folder.exists() or not any(folder.iterdir())


def test_missing_file_on_the_server_names_the_failure(published):
    with pytest.raises(CheckpointNotFoundError, match="nothing.pth"):
        load_model("gone", offline=False)
