"""registry.py: built-in entries, user override files (JSON and TOML), cache locations, status, default pair."""

from __future__ import annotations

import json

import pytest

import mae_core.checkpoints.registry as reg
from mae_core.checkpoints.registry import (
    OFFICIAL_URL,
    RegistryError,
    Source,
    bundled_sums,
    checkpoint_status,
    default_pair,
    hf_cache_dir,
    is_offline,
    registry,
    torch_hub_checkpoints_dir,
)
from tests.fake_caches import add_to_hf_cache


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MAE_CHECKPOINTS_FILE", raising=False)
    monkeypatch.setattr(reg, "BUNDLED_DIR", tmp_path / "bundled")  # the real bundled files are not this test's
    (tmp_path / "bundled").mkdir()


def test_builtin_entries():
    entries = registry()
    assert {"vit-large-pixel", "vit-large-gan", "vit-base-pixel", "vit-huge-pixel", "tiny-pixel", "tiny-gan"} <= set(
        entries
    )
    large = entries["vit-large-pixel"]
    assert [s.kind for s in large.sources] == ["hub", "url"]
    assert large.sources[0].location == "facebook/vit-mae-large"
    assert large.sources[1].size == 1_318_315_181
    gan = entries["vit-large-gan"]
    assert gan.loss_type == "gan" and [s.kind for s in gan.sources] == ["url"]  # no Hub copy exists
    assert gan.sources[0].location == OFFICIAL_URL + "mae_visualize_vit_large_ganloss.pth"
    assert all(e.mask_ratio == 0.75 and e.norm_pix == e.name.endswith("-normpix") for e in entries.values())
    assert entries["vit-huge-pixel"].architecture == "mae_vit_huge_patch14"
    assert [s.kind for s in entries["tiny-gan"].sources] == ["bundled"]


def test_json_override_adds_and_overrides(tmp_path):
    spec = {
        "checkpoints": {
            "mine": {
                "architecture": "mae_vit_large_patch16",
                "loss_type": "pixel",
                "sources": [{"hub": "me/weights", "filename": "mae_visualize_vit_large.pth"}, "weights/l.pth"],
            },
            "vit-large-gan": {"sources": [{"file": "/data/gan.pth"}]},
        }
    }
    path = tmp_path / "reg.json"
    path.write_text(json.dumps(spec))
    entries = registry(path)
    mine = entries["mine"]
    assert mine.sources[0] == Source("hub", "me/weights", "mae_visualize_vit_large.pth")
    assert mine.sources[1] == Source("file", str(tmp_path / "weights" / "l.pth"))  # relative to the file
    gan = entries["vit-large-gan"]
    assert gan.loss_type == "gan" and gan.architecture == "mae_vit_large_patch16"  # kept from the built-in
    assert gan.sources == (Source("file", "/data/gan.pth"),)
    assert "vit-base-pixel" in entries


def test_toml_override_via_environment(tmp_path, monkeypatch):
    path = tmp_path / "reg.toml"
    path.write_text(
        '[checkpoints.gan-copy]\narchitecture = "tiny"\nloss_type = "gan"\nmask_ratio = 0.9\nnorm_pix = true\n'
        'sources = ["hf://acme/repo/sub/w.safetensors", {url = "https://x.org/w.pth", sha256 = "' + "AB" * 32 + '"}]\n'
    )
    monkeypatch.setenv("MAE_CHECKPOINTS_FILE", str(path))
    entry = registry()["gan-copy"]
    assert entry.mask_ratio == 0.9 and entry.norm_pix
    assert entry.sources[0] == Source("hub", "acme/repo", "sub/w.safetensors")
    assert entry.sources[1].sha256 == "ab" * 32


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"checkpoints": {"x": {"architecture": "tiny", "loss_type": "pixel"}}}', "needs \\['sources'\\]"),
        ('{"checkpoints": {"x": {"architecture": "t", "loss_type": "l1", "sources": ["a.pth"]}}}', "'l1'"),
        ('{"checkpoints": {"vit-large-gan": {"colour": "red"}}}', "unknown keys \\['colour'\\]"),
        (
            '{"checkpoints": {"x": {"architecture": "t", "loss_type": "gan", '
            '"sources": [{"hub": "a/b", "url": "u"}]}}}',
            "exactly one of hub/url/file",
        ),
        ('{"entries": {}}', "top-level 'checkpoints'"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_registry_files_say_what_is_wrong(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(RegistryError, match=match):
        registry(path)


def test_registry_file_must_be_json_or_toml(tmp_path):
    (tmp_path / "reg.yaml").write_text("checkpoints: {}")
    with pytest.raises(RegistryError, match=".json or .toml"):
        registry(tmp_path / "reg.yaml")


def test_cache_dirs_follow_the_environment_at_call_time(tmp_path, monkeypatch):
    assert hf_cache_dir() == tmp_path / "hf"
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_cache_dir() == tmp_path / "home" / "hub"
    assert torch_hub_checkpoints_dir() == tmp_path / "torch" / "hub" / "checkpoints"


def test_offline_flags(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MAE_OFFLINE", raising=False)
    assert not is_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert is_offline() and not is_offline(False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("MAE_OFFLINE", "true")
    assert is_offline()


def test_bundled_sums_and_missing_files(tmp_path):
    entries = registry()
    assert bundled_sums() == {}  # no SHA256SUMS: no expected hashes, no crash
    assert checkpoint_status(entries["tiny-pixel"]).state == "missing"
    (tmp_path / "bundled" / "tiny-pixel.safetensors").write_bytes(b"x" * 10)
    (tmp_path / "bundled" / "SHA256SUMS").write_text(
        f"{'a' * 64}  tiny-pixel.safetensors\n{'B' * 64} *tiny-gan.safetensors\n"
    )
    assert bundled_sums() == {"tiny-pixel.safetensors": "a" * 64, "tiny-gan.safetensors": "b" * 64}
    status = checkpoint_status(entries["tiny-pixel"])
    assert status.state == "bundled" and status.size == 10


def test_status_finds_both_caches(tmp_path):
    entries = registry()
    weights = tmp_path / "pytorch_model.bin"
    weights.write_bytes(b"w" * 7)
    add_to_hf_cache(tmp_path / "hf", "facebook/vit-mae-large", {"pytorch_model.bin": weights})
    large = checkpoint_status(entries["vit-large-pixel"])
    assert large.state == "cached" and large.where == "Hugging Face cache" and large.size == 7
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "mae_visualize_vit_large_ganloss.pth").write_bytes(b"g")
    gan = checkpoint_status(entries["vit-large-gan"])
    assert gan.state == "cached" and gan.where == "torch hub cache"
    assert checkpoint_status(entries["vit-base-pixel"]).state == "missing"


def test_default_pair_prefers_cached_vit_large(tmp_path):
    pair = default_pair(offline=True)
    assert (pair.pixel, pair.gan) == ("tiny-pixel", "tiny-gan")
    assert "vit-large-pixel" in pair.note and "offline" in pair.note.lower()
    assert "missing" in pair.note  # the bundled files are absent in this test
    online = default_pair(offline=False)
    assert "python -m mae_core download vit-large-pixel vit-large-gan" in online.note

    weights = tmp_path / "pytorch_model.bin"
    weights.write_bytes(b"w")
    add_to_hf_cache(tmp_path / "hf", "facebook/vit-mae-large", {"pytorch_model.bin": weights})
    assert default_pair(offline=True).pixel == "tiny-pixel"  # the GAN file is still missing
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "mae_visualize_vit_large_ganloss.pth").write_bytes(b"g")
    pair = default_pair(offline=True)
    assert (pair.pixel, pair.gan) == ("vit-large-pixel", "vit-large-gan") and "ViT-L" in pair.note


@pytest.mark.parametrize("size", ["base", "large", "huge"])
def test_norm_pix_entries_name_the_full_pretraining_files_and_say_their_hash_is_unpublished(size):
    entry = registry()[f"vit-{size}-normpix"]
    assert entry.norm_pix and entry.loss_type == "pixel"
    assert entry.architecture == f"mae_vit_{size}_patch{14 if size == 'huge' else 16}"
    (source,) = entry.sources
    assert source.location == f"https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_{size}_full.pth"
    assert source.sha256 is None and source.size is None and "sha256 not published" in entry.description
