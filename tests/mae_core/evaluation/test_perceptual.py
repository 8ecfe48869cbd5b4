"""perceptual.py: LPIPS weights resolved from torch hub's cache (stand-in files in a temporary TORCH_HOME), a
loopback download, the one-line message when they cannot be had, and distances equal to torchmetrics' forward."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mae_core.evaluation import perceptual
from mae_core.evaluation.perceptual import (
    ALEXNET_FILE,
    ALEXNET_URL,
    FETCH_COMMAND,
    LpipsWeightsError,
    ensure_lpips_weights,
    fetch_lpips_weights,
    load_lpips,
    lpips_weights_present,
)
from tests.fake_caches import add_lpips_standin

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    for key in ("MAE_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(key, raising=False)
    return home


def _images(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.interpolate(torch.rand(n, 3, 8, 8, generator=generator), size=64, mode="bilinear")
    return (smooth + 0.1 * torch.rand(n, 3, 64, 64, generator=generator)).clamp(0, 1)


def test_standin_weights_in_torch_home_are_loaded_into_the_backbone(torch_home):
    path = add_lpips_standin(torch_home, seed=1)
    assert lpips_weights_present() and ensure_lpips_weights(offline=True) == path
    lpips = load_lpips("cpu", offline=True)
    saved = torch.load(path, weights_only=True)
    backbone = lpips.network.net.state_dict()  # torchmetrics names its layers by torchvision's indices
    assert torch.equal(backbone["slice1.0.weight"], saved["features.0.weight"])
    assert torch.equal(backbone["slice5.10.bias"], saved["features.10.bias"])
    assert load_lpips("cpu", offline=True) is lpips  # built once per file and device


def test_distance_equals_torchmetrics_forward_and_is_zero_for_identical_images(torch_home):
    add_lpips_standin(torch_home)
    lpips = load_lpips("cpu", offline=True)
    originals, pasted = _images(2, seed=0), _images(5, seed=1)
    index = torch.tensor([0, 1, 1, 0, 1])
    ours = lpips.distance(originals, pasted, index)
    with torch.inference_mode():
        reference = lpips.network(originals[index], pasted, normalize=True).flatten()
    assert torch.allclose(ours, reference, rtol=1e-5, atol=1e-6)
    assert ours.min() > 0
    same = lpips.distance(originals, originals[index], index)
    assert torch.allclose(same, torch.zeros(5), atol=1e-7)


def test_offline_and_absent_is_one_line_naming_the_file_and_how_to_fetch_it(torch_home):
    assert not lpips_weights_present()
    with pytest.raises(LpipsWeightsError) as info:
        load_lpips("cpu", offline=True)
    message = str(info.value)
    assert "\n" not in message
    for part in (
        ALEXNET_FILE,
        str(torch_home / "hub" / "checkpoints"),
        FETCH_COMMAND,
        ALEXNET_URL,
        "downloads are off",
    ):
        assert part in message


def test_offline_from_the_environment(torch_home, monkeypatch):
    monkeypatch.setenv("MAE_OFFLINE", "1")
    with pytest.raises(LpipsWeightsError, match="downloads are off"):
        ensure_lpips_weights()


@pytest.mark.parametrize("content", [b"not a torch file", "tensors"])
def test_a_damaged_or_foreign_file_is_an_error_with_the_fix_not_a_crash(torch_home, content):
    path = add_lpips_standin(torch_home)
    if content == "tensors":
        torch.save({"features.0.weight": torch.zeros(3)}, path)  # not AlexNet's shapes
    else:
        path.write_bytes(content)
    with pytest.raises(LpipsWeightsError) as info:
        load_lpips("cpu", offline=True)
    assert str(path) in str(info.value) and FETCH_COMMAND in str(info.value)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served_standin(tmp_path, torch_home, monkeypatch):
    """The stand-in file served over HTTP on 127.0.0.1, the module's URL and hash prefix pointed at it."""
    folder = tmp_path / "served"
    source = add_lpips_standin(tmp_path / "elsewhere")
    folder.mkdir()
    (folder / ALEXNET_FILE).write_bytes(source.read_bytes())
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setattr(perceptual, "ALEXNET_URL", f"http://127.0.0.1:{httpd.server_address[1]}/{ALEXNET_FILE}")
    monkeypatch.setattr(perceptual, "ALEXNET_SHA256_PREFIX", hashlib.sha256(source.read_bytes()).hexdigest()[:8])
    yield source
    httpd.shutdown()
    httpd.server_close()


def test_online_and_absent_downloads_into_the_torch_hub_cache(served_standin, torch_home):
    path = ensure_lpips_weights(offline=False)
    assert path == torch_home / "hub" / "checkpoints" / ALEXNET_FILE
    assert path.read_bytes() == served_standin.read_bytes()
    load_lpips("cpu", offline=True)


def test_a_download_with_the_wrong_hash_leaves_nothing(served_standin, torch_home, monkeypatch):
    monkeypatch.setattr(perceptual, "ALEXNET_SHA256_PREFIX", "00000000")
    with pytest.raises(LpipsWeightsError, match="download failed"):
        fetch_lpips_weights()
    assert list((torch_home / "hub" / "checkpoints").iterdir()) == []


def _cli(*args: str, torch_home, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TORCH_HOME": str(torch_home), "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "mae_core", *args], cwd=REPO, env=environ, capture_output=True, text=True, timeout=300
    )


def test_cli_download_lpips_offline_says_what_to_fetch_then_finds_a_cached_file(torch_home):
    refused = _cli("download", "lpips", torch_home=torch_home, MAE_OFFLINE="1")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and ALEXNET_FILE in refused.stderr and ALEXNET_URL in refused.stderr
    path = add_lpips_standin(torch_home)
    found = _cli("download", "lpips", torch_home=torch_home, MAE_OFFLINE="1")
    assert found.returncode == 0 and found.stdout.strip() == f"lpips: {path} (torch hub cache)"
