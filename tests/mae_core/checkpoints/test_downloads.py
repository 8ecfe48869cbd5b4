"""Real downloads over HTTP from servers on 127.0.0.1: the URL path of the loader and ``python -m mae_core download``
(torch.hub's downloader into ``$TORCH_HOME/hub/checkpoints``, sha256 checked, nothing left behind on failure), and
the Hub path through huggingface_hub's own client against a loopback ``HF_ENDPOINT`` (into the HF cache)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mae_core.checkpoints.errors import CheckpointNotFoundError, HashMismatchError
from mae_core.checkpoints.loading import load_model
from tests.conftest import make_model
from tests.fake_caches import PRESET_WIDTH_CONFIG, official_state, tiny_transformers_model

REPO = Path(__file__).resolve().parents[3]


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


def _download_cli(name: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m mae_core download NAME`` in a fresh interpreter, online, with ``env`` on top of ours."""
    unset = ("MAE_OFFLINE", "HF_HUB_OFFLINE", "MAE_CHECKPOINTS_FILE")
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, **env, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "mae_core", "download", name],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_download_fetches_into_the_torch_hub_cache_then_loads_offline(published):
    result = _download_cli("served", **published["env"])
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


def test_cli_without_network_says_to_fetch_on_a_connected_machine(tmp_path):
    with socket.socket() as probe:  # a loopback port nothing listens on: every connection is refused, as offline
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/mae_visualize_custom.pth"
    result = _download_cli(url, TORCH_HOME=str(tmp_path / "torch"), HF_HUB_CACHE=str(tmp_path / "hf"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {url}: could not fetch checkpoint")
    assert f"fetch it on a machine with internet (`python -m mae_core download {url}`)" in result.stderr
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "mae_visualize_custom.pth") in result.stderr


COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _FakeHubHandler(http.server.BaseHTTPRequestHandler):
    """Answers ``/{org}/{name}/resolve/{revision}/{file}`` like the Hub: commit and etag headers, then the bytes."""

    files: dict[str, bytes] = {}  # "org/name/file" -> content, set per test
    requests: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self, with_body: bool) -> None:
        self.requests.append(f"{self.command} {self.path}")
        parts = self.path.split("?")[0].strip("/").split("/")
        key = "/".join(parts[:2] + parts[4:]) if len(parts) >= 5 and parts[2] == "resolve" else ""
        data = self.files.get(key)
        if data is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("X-Error-Message", f"{key} does not exist")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(with_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(with_body=True)


def test_hub_download_from_an_hf_endpoint_into_the_hf_cache(tmp_path, monkeypatch):
    """``download hf://org/repo`` through huggingface_hub's own client (HF_ENDPOINT on loopback): the transformers
    weights and their config.json land in the HF cache, then load offline and match transformers' forward."""
    hf_model = tiny_transformers_model(seed=4)
    saved = tmp_path / "saved"
    hf_model.save_pretrained(saved)
    _FakeHubHandler.files = {
        f"fake-org/fake-mae/{name}": (saved / name).read_bytes() for name in ("model.safetensors", "config.json")
    }
    _FakeHubHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeHubHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        result = _download_cli(
            "hf://fake-org/fake-mae",
            HF_ENDPOINT=f"http://127.0.0.1:{httpd.server_address[1]}",  # read by huggingface_hub at import
            HF_HUB_CACHE=str(tmp_path / "hf"),
            TORCH_HOME=str(tmp_path / "torch"),
            HF_HUB_DISABLE_TELEMETRY="1",
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert result.returncode == 0, result.stderr
    assert any("model.safetensors" in r for r in _FakeHubHandler.requests)
    assert any("config.json" in r for r in _FakeHubHandler.requests)
    snapshot = tmp_path / "hf" / "models--fake-org--fake-mae" / "snapshots" / COMMIT
    assert (snapshot / "model.safetensors").is_file() and (snapshot / "config.json").is_file()

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    model = load_model("hf://fake-org/fake-mae", offline=True)
    x = torch.randn(2, 3, 32, 32)
    noise = torch.rand(2, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(x, 0.75, noise)
        theirs = hf_model(pixel_values=x, noise=noise)
    assert torch.allclose(ours.pred, theirs.logits, atol=1e-5)
