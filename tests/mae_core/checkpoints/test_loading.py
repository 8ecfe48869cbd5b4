"""loading.py: every layout loads exactly (transformers, official, our own files), and each wrong file is refused
with its own error."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest
import torch

from mae_core.checkpoints.checkpoint_files import save_checkpoint
from mae_core.checkpoints.errors import (
    EncoderOnlyError,
    NormPixWarning,
    StateDictMismatchError,
    UnknownArchitectureError,
)
from mae_core.checkpoints.loading import load_model
from mae_core.checkpoints.registry import registry
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.modeling.masking import mask_noise
from tests.conftest import TINY_CONFIG, make_model
from tests.fake_caches import PRESET_WIDTH_CONFIG, add_to_hf_cache, official_state, tiny_transformers_model

pytestmark = pytest.mark.usefixtures("offline_caches")


@pytest.fixture(scope="module")
def hf_model():
    return tiny_transformers_model(seed=3)


@pytest.fixture
def hf_repo(tmp_path, hf_model):
    """``acme/tiny-mae`` in the fake HF cache, saved by transformers itself."""
    saved = tmp_path / "saved"
    hf_model.save_pretrained(saved)
    files = {"model.safetensors": saved / "model.safetensors", "config.json": saved / "config.json"}
    return add_to_hf_cache(tmp_path / "hf", "acme/tiny-mae", files)


def _images(config, n=2, seed=0):
    return torch.randn(
        n, config.in_chans, config.img_size, config.img_size, generator=torch.Generator().manual_seed(seed)
    )


def _assert_matches_transformers(model, hf_model):
    imgs = _images(model.config)
    noise = torch.cat([mask_noise(s, model.num_patches) for s in (0, 1)])
    with torch.no_grad():
        ours = model(imgs, mask_ratio=0.75, noise=noise)
        theirs = hf_model(pixel_values=imgs, noise=noise)
    assert torch.equal(ours.mask, theirs.mask)
    torch.testing.assert_close(ours.pred, theirs.logits, rtol=1e-5, atol=1e-5)


def test_hf_uri_loads_from_the_cache_and_matches_transformers(hf_repo, hf_model):
    assert (hf_repo.parent.parent / "refs" / "main").read_bytes().endswith(b"7")  # no trailing newline
    model = load_model("hf://acme/tiny-mae")
    assert not model.training
    info = model.checkpoint_info
    assert info.format == "transformers" and info.loss_type == "unknown" and info.entry is None
    assert info.source == "hf://acme/tiny-mae/model.safetensors"
    # the blob's name is its sha256: recorded without hashing 1 GB again, and it is right
    assert info.sha256 == hashlib.sha256(Path(info.path).read_bytes()).hexdigest()
    assert model.config.num_heads == 4 and model.config.decoder_num_heads == 2  # from config.json
    _assert_matches_transformers(model, hf_model)


def test_registry_entry_with_a_hub_source(tmp_path, hf_repo, hf_model):
    spec = {
        "checkpoints": {
            "acme-tiny": {
                "architecture": "tiny",
                "loss_type": "gan",
                "sources": [{"hub": "acme/tiny-mae", "filename": "model.safetensors"}],
            }
        }
    }
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(spec))
    model = load_model("acme-tiny", registry=registry(path))
    assert model.checkpoint_info.name == "acme-tiny" and model.checkpoint_info.loss_type == "gan"
    _assert_matches_transformers(model, hf_model)


def test_official_url_file_copied_locally_keeps_its_identity(tmp_path):
    """A local file named like an official one is that entry: its loss type, and its architecture is checked."""
    reference = make_model(PRESET_WIDTH_CONFIG)
    path = tmp_path / "mae_visualize_vit_large_ganloss.pth"
    torch.save({"model": official_state(reference)}, path)
    with pytest.raises(StateDictMismatchError, match="mae_vit_large_patch16"):
        load_model(path)  # the built-in entry says ViT-L: a different architecture under that name is refused
    (tmp_path / "reg.json").write_text(json.dumps({"checkpoints": {"vit-large-gan": {"architecture": "small"}}}))
    info = load_model(path, registry=registry(tmp_path / "reg.json")).checkpoint_info
    assert (info.name, info.loss_type, info.format) == ("vit-large-gan", "gan", "official")


def test_encoder_only_is_refused_with_the_reason(tmp_path):
    encoder = {k: v for k, v in official_state(make_model()).items() if not k.startswith(("decoder", "mask_token"))}
    path = tmp_path / "mae_pretrain_vit_tiny.pth"
    torch.save({"model": encoder}, path)
    with pytest.raises(EncoderOnlyError) as info:
        load_model(path)
    message = str(info.value)
    assert "no decoder" in message and "cannot reconstruct" in message and "vit-large-pixel" in message


def test_norm_pix_file_loads_with_a_warning(tmp_path):
    reference = make_model(PRESET_WIDTH_CONFIG)
    path = tmp_path / "mae_pretrain_vit_small_full.pth"
    torch.save({"model": official_state(reference)}, path)
    with pytest.warns(NormPixWarning, match="per-patch normalised.*denorm='honest'.*denorm='oracle'"):
        model = load_model(path)
    assert model.checkpoint_info.norm_pix and model.config.norm_pix_loss
    # loaded, not refused: it reconstructs, de-normalised honestly by default, with the oracle's gap measured
    image = torch.rand(32, 32, 3).numpy()
    rec = reconstruct(model, image, 0.5, 0, metrics=())
    assert rec.denorm == "honest" and rec.norm_pix_gap is not None
    assert reconstruct(model, image, 0.5, 0, denorm="oracle", metrics=()).denorm == "oracle"


def test_norm_pix_from_transformers_config(tmp_path, hf_model):
    hf_model.config.norm_pix_loss = True
    try:
        hf_model.save_pretrained(tmp_path / "folder")
    finally:
        hf_model.config.norm_pix_loss = False
    with pytest.warns(NormPixWarning):
        model = load_model(tmp_path / "folder")
    assert model.checkpoint_info.norm_pix


def test_float16_storage_loads_back_as_float32(tmp_path):
    model = make_model()
    path = save_checkpoint(model, tmp_path / "half.safetensors", loss_type="gan", dtype=torch.float16)
    assert path.stat().st_size < sum(t.numel() * 4 for t in model.state_dict().values())
    loaded = load_model(path)
    assert loaded.checkpoint_info.format == "mae_core" and loaded.checkpoint_info.loss_type == "gan"
    assert loaded.config == TINY_CONFIG  # heads from the metadata
    for name, tensor in model.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == torch.float32
        assert torch.equal(got, tensor.half().float()), name
    with pytest.raises(ValueError, match="'l2'"):
        save_checkpoint(model, tmp_path / "x.safetensors", loss_type="l2")
    bf16 = load_model(path, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in bf16.parameters())


def test_float32_round_trip_is_exact_and_hash_is_lazy(tmp_path):
    model = make_model(seed=5)
    path = save_checkpoint(model, tmp_path / "exact.safetensors", loss_type="pixel")
    loaded = load_model(path)
    assert loaded.checkpoint_info.known_sha256 is None  # nothing paid at load time without an expected hash
    assert loaded.checkpoint_info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    imgs = _images(TINY_CONFIG)
    noise = torch.cat([mask_noise(s, model.num_patches) for s in (3, 4)])
    with torch.no_grad():
        assert torch.equal(loaded(imgs, noise=noise).pred, model(imgs, noise=noise).pred)
    assert not any(p.is_meta for p in loaded.parameters())
    assert loaded.pos_embed.requires_grad is False  # fixed sin-cos stays fixed


def test_extra_or_missing_tensor_is_a_mismatch(tmp_path):
    state = official_state(make_model(PRESET_WIDTH_CONFIG))
    state["decoder_blocks.0.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "extra.pth")
    with pytest.raises(StateDictMismatchError, match="extra.weight"):
        load_model(tmp_path / "extra.pth")


def test_bare_official_file_without_config_asks_for_one(tmp_path):
    torch.save(official_state(make_model()), tmp_path / "tiny.pth")
    # another model's config.json beside it is not taken for this one's
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit", "num_attention_heads": 4}))
    with pytest.raises(UnknownArchitectureError, match="config"):
        load_model(tmp_path / "tiny.pth")


def test_bad_dtype_is_a_value_error(hf_repo):
    with pytest.raises(ValueError, match="int64"):
        load_model("hf://acme/tiny-mae", dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model("hf://acme/tiny-mae", dtype=torch.bfloat16)  # no warning for a plain pixel checkpoint
