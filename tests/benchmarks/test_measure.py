"""The benchmarks' yardsticks: the FLOP count against torch's own counter, the linear rate, the peak-RSS sampler."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.measure import PeakRss, cpu_name, forward_flops, linear_rate
from mae_core.modeling.masking import mask_noise
from mae_core.modeling.model import MAEConfig
from tests.conftest import TINY_CONFIG, make_model

ODD_CONFIG = MAEConfig(
    img_size=48, patch_size=16, embed_dim=48, depth=2, num_heads=3, decoder_embed_dim=24, decoder_depth=2,
    decoder_num_heads=4, mlp_ratio=2.0,
)  # fmt: skip


@pytest.mark.parametrize("config", [TINY_CONFIG, ODD_CONFIG], ids=["tiny", "odd"])
@pytest.mark.parametrize("ratio", [0.25, 0.5, 0.75])
def test_forward_flops_match_torchs_counter(config, ratio):
    model = make_model(config)
    # the math attention backend runs as two bmm's, which the counter sees (it does not count the CPU flash kernel)
    with torch.inference_mode(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, config.img_size, config.img_size), ratio, mask_noise(0, config.num_patches))
    assert forward_flops(config, ratio) == counter.get_total_flops()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("onednn", [False, True])
def test_linear_rate_is_a_positive_rate(dtype, onednn):
    if onednn and not torch.backends.mkldnn.is_available():
        pytest.skip("no oneDNN in this torch build")
    assert 0 < linear_rate(dtype, (64, 32, 48), onednn=onednn, repeats=2) < 1e3  # TFLOP/s


def test_peak_rss_sees_an_allocation():
    with PeakRss() as idle:
        pass
    with PeakRss() as busy:
        block = torch.ones(64 * 2**20, dtype=torch.uint8)  # 64 MiB, touched, alive until the block ends
    assert busy.peak >= idle.peak + 32 * 2**20
    del block
    assert cpu_name()
