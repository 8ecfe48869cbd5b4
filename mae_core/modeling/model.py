"""The MAE model: a ViT encoder over the visible patches and a light decoder that predicts the removed ones.

Built on timm's ``PatchEmbed`` and ``Block`` (fused attention) with the official parameter names, so the official
state dicts load with ``strict=True``. One method per step, as in the official ``models_mae.py``; masking takes
its noise as an argument.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING

import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn

from .masking import random_masking
from .patches import patchify, unpatchify
from .pos_embed import grid_shape, sincos_2d

if TYPE_CHECKING:  # loading imports this module: the annotation only
    from ..checkpoints.loading import CheckpointInfo

LAYER_NORM_EPS = 1e-6
# the largest image side (pixels) a model accepts: sin-cos embeddings exist for any grid, but attention's cost grows
# with the square of the patch count (1024 x 1024 at patch 16 is 4096 patches, 21x the 196 of 224 px)
MAX_IMAGE_SIDE = 1024


@dataclass(frozen=True)
class MAEConfig:
    """Architecture of a :class:`MaskedAutoencoderViT` (the official presets are below)."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    norm_pix_loss: bool = False

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not divisible by patch_size {self.patch_size}")
        for width, heads, what in (
            (self.embed_dim, self.num_heads, "embed_dim/num_heads"),
            (self.decoder_embed_dim, self.decoder_num_heads, "decoder_embed_dim/decoder_num_heads"),
        ):
            if width % heads:
                raise ValueError(f"{what}: width {width} is not divisible by {heads} heads")
            if width % 4:
                raise ValueError(f"{what}: width {width} must be divisible by 4 for sin-cos position embeddings")

    @property
    def grid_size(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def patch_dim(self) -> int:
        return self.patch_size**2 * self.in_chans

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid (g_h, g_w) of an input of ``height`` x ``width`` pixels; ``ValueError`` unless both are
        positive multiples of the patch size up to :data:`MAX_IMAGE_SIDE`."""
        p = self.patch_size
        for side in (height, width):
            if side % p or not p <= side <= MAX_IMAGE_SIDE:
                raise ValueError(
                    f"image size {height}x{width} is not supported: each side must be a multiple of the patch size "
                    f"{p} between {p} and {MAX_IMAGE_SIDE} pixels"
                )
        return height // p, width // p

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, MAEConfig] = {
    "mae_vit_base_patch16": MAEConfig(embed_dim=768, depth=12, num_heads=12),
    "mae_vit_large_patch16": MAEConfig(embed_dim=1024, depth=24, num_heads=16),
    "mae_vit_huge_patch14": MAEConfig(patch_size=14, embed_dim=1280, depth=32, num_heads=16),
}


@dataclass
class MAEOutput:
    """What one forward pass returns. N images, L patches, p patch size."""

    loss: torch.Tensor  # [N] mean loss over each image's removed patches (N=1: the official scalar)
    pred: torch.Tensor  # [N, L, p*p*3] predicted patches, in (normalised) pixel-target space
    mask: torch.Tensor  # [N, L] float, 0 is keep, 1 is remove
    ids_restore: torch.Tensor  # [N, L] long, unshuffles the token order


class MaskedAutoencoderViT(nn.Module):
    """Masked autoencoder with a ViT backbone (He et al., 2021)."""

    checkpoint_info: CheckpointInfo | None = None  # where the weights came from; set by ``load_model``

    def __init__(self, config: MAEConfig | None = None, **overrides) -> None:
        super().__init__()
        config = replace(config or MAEConfig(), **overrides)
        self.config = config
        norm_layer = partial(nn.LayerNorm, eps=LAYER_NORM_EPS)

        # not strict: any multiple of the patch size passes (``grid_for`` checks it first, with a clear message)
        self.patch_embed = PatchEmbed(
            config.img_size, config.patch_size, config.in_chans, config.embed_dim, strict_img_size=False
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        # fixed sin-cos; a buffer-like parameter because the official state dicts carry it
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(
            Block(config.embed_dim, config.num_heads, config.mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(config.depth)
        )
        self.norm = norm_layer(config.embed_dim)

        self.decoder_embed = nn.Linear(config.embed_dim, config.decoder_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, config.num_patches + 1, config.decoder_embed_dim), requires_grad=False
        )
        self.decoder_blocks = nn.ModuleList(
            Block(
                config.decoder_embed_dim,
                config.decoder_num_heads,
                config.mlp_ratio,
                qkv_bias=True,
                norm_layer=norm_layer,
            )
            for _ in range(config.decoder_depth)
        )
        self.decoder_norm = norm_layer(config.decoder_embed_dim)
        self.decoder_pred = nn.Linear(config.decoder_embed_dim, config.patch_dim, bias=True)
        self.initialize_weights()

    # ---- initialisation (as the official code: xavier linears, N(0, .02) tokens, fixed sin-cos) ----
    def initialize_weights(self) -> None:
        grid = self.config.grid_size
        self.pos_embed.data.copy_(torch.from_numpy(sincos_2d(self.config.embed_dim, grid, cls_token=True))[None])
        self.decoder_pos_embed.data.copy_(
            torch.from_numpy(sincos_2d(self.config.decoder_embed_dim, grid, cls_token=True))[None]
        )
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(_init_module)

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    @property
    def num_patches(self) -> int:
        return self.config.num_patches

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        return patchify(imgs, self.config.patch_size)

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """[N, L, p*p*C] -> [N, C, H, W]; ``grid`` (g_h, g_w) defaults to the model's square grid."""
        if grid is None:
            grid = (self.config.grid_size, self.config.grid_size)
        return unpatchify(x, self.config.patch_size, grid, self.config.in_chans)

    def grid_of(self, imgs: torch.Tensor) -> tuple[int, int]:
        """The patch grid (g_h, g_w) of a batch ``imgs`` [N, C, H, W] (``MAEConfig.grid_for`` checks it)."""
        return self.config.grid_for(imgs.shape[-2], imgs.shape[-1])

    def position_embeddings(self, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoder [1, 1 + g_h*g_w, D], decoder [1, 1 + g_h*g_w, Dd]) position embeddings for a patch grid.

        The model's own grid uses the stored tensors (so 224 px gives exactly the numbers it always gave); any
        other grid gets the same fixed 2-D sin-cos function evaluated on its (row, col) positions: exact, not an
        interpolation of the stored vectors."""
        grid = grid_shape(grid)
        if grid == (self.config.grid_size, self.config.grid_size):
            return self.pos_embed, self.decoder_pos_embed
        encoder = _sincos(self.config.embed_dim, grid).to(self.pos_embed.device, self.pos_embed.dtype)
        decoder = _sincos(self.config.decoder_embed_dim, grid).to(self.pos_embed.device, self.pos_embed.dtype)
        return encoder, decoder

    # ---- the three steps ----
    def forward_encoder(
        self, imgs: torch.Tensor, mask_ratio: float, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos_embed, _ = self.position_embeddings(self.grid_of(imgs))
        x = self.patch_embed(imgs)  # [N, L, D]
        x = x + pos_embed[:, 1:, :]
        masking = random_masking(x, mask_ratio, noise)
        cls = (self.cls_token + pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, masking.kept], dim=1)  # [N, 1 + len_keep, D]
        for block in self.blocks:
            x = block(x)
        return self.norm(x), masking.mask, masking.ids_restore

    def forward_decoder(
        self, latent: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """``grid`` (g_h, g_w): the input's patch grid, the model's own by default."""
        _, decoder_pos_embed = self.position_embeddings(grid or (self.config.grid_size, self.config.grid_size))
        x = self.decoder_embed(latent)  # [N, 1 + len_keep, Dd]
        n, length = ids_restore.shape
        mask_tokens = self.mask_token.to(x.dtype).expand(n, length + 1 - x.shape[1], -1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)  # [N, L, Dd] in shuffled order
        x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))  # unshuffle
        x = torch.cat([x[:, :1, :], x_], dim=1) + decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        x = self.decoder_pred(self.decoder_norm(x))
        return x[:, 1:, :]  # [N, L, p*p*C], cls dropped

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[N] mean squared error per removed patch, averaged per image (the official formula, per sample)."""
        target = self.patch_target(imgs)
        per_patch = ((pred.float() - target) ** 2).mean(dim=-1)  # [N, L], mean loss per patch
        return (per_patch * mask).sum(dim=1) / mask.sum(dim=1)

    def patch_target(self, imgs: torch.Tensor) -> torch.Tensor:
        """[N, L, p*p*C] regression target: normalised pixels, per-patch normalised when ``norm_pix_loss``."""
        target = self.patchify(imgs.float())
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def forward(self, imgs: torch.Tensor, mask_ratio: float = 0.75, noise: torch.Tensor | None = None) -> MAEOutput:
        """``imgs`` [N, C, H, W] ImageNet-normalised; H and W any multiples of the patch size up to
        :data:`MAX_IMAGE_SIDE` (L = H/p * W/p). ``noise`` [N, L] fixes the masks (see ``mask_noise``); without it,
        noise is drawn like the official code, from the global generator of the images' device."""
        grid = self.grid_of(imgs)
        if noise is None:
            noise = torch.rand(imgs.shape[0], grid[0] * grid[1], device=imgs.device)
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, noise)
        pred = self.forward_decoder(latent, ids_restore, grid)
        mask = mask.float()
        return MAEOutput(loss=self.forward_loss(imgs, pred, mask), pred=pred, mask=mask, ids_restore=ids_restore)


@lru_cache(maxsize=16)
def _sincos(embed_dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """[1, 1 + g_h*g_w, embed_dim] float32 sin-cos embeddings with the class token's zero row (a CPU tensor)."""
    return torch.from_numpy(sincos_2d(embed_dim, grid, cls_token=True))[None]


def _init_module(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_model(config: MAEConfig | str, **overrides) -> MaskedAutoencoderViT:
    """A model from a config or a preset name (``mae_vit_large_patch16``...), with field overrides."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown architecture {config!r}; known: {', '.join(PRESETS)}")
        config = PRESETS[config]
    return MaskedAutoencoderViT(config, **overrides)


def mae_vit_base_patch16(**overrides) -> MaskedAutoencoderViT:
    return build_model("mae_vit_base_patch16", **overrides)


def mae_vit_large_patch16(**overrides) -> MaskedAutoencoderViT:
    return build_model("mae_vit_large_patch16", **overrides)


def mae_vit_huge_patch14(**overrides) -> MaskedAutoencoderViT:
    return build_model("mae_vit_huge_patch14", **overrides)
