"""LPIPS (Zhang et al., 2018): AlexNet features with the v0.1 linear heads, as torchmetrics implements it.

The weights come in two parts. The linear heads ship inside torchmetrics (``lpips_models/alex.pth``), which reads
them itself. The AlexNet backbone is torchvision's ImageNet file ``alexnet-owt-7be5be79.pth``, resolved like a
checkpoint: torch hub's cache (``$TORCH_HOME/hub/checkpoints/``) first, then - only when downloads are allowed and
the caller asks - torchvision's own URL, nowhere else. torchvision would unpickle that file with ``weights_only=False``
and download it silently, so this module reads it itself (``weights_only=True``) into torchmetrics' network.

Without the file and without a download, :class:`LpipsWeightsError` carries the one line that says what to fetch and
how; callers skip the metric with that line rather than fail.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ..checkpoints.registry import is_offline, torch_hub_checkpoints_dir, url_filename
from ..files import atomic_output

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
ALEXNET_FILE = url_filename(ALEXNET_URL)
ALEXNET_SHA256_PREFIX = "7be5be79"  # torchvision's convention: the file name carries the start of its sha256
DOWNLOAD_NAME = "lpips"  # what ``python -m mae_core download`` takes for these weights
FETCH_COMMAND = f"python -m mae_core download {DOWNLOAD_NAME}"


class LpipsWeightsError(RuntimeError):
    """The AlexNet weights are missing, unreadable or not AlexNet's; the message is one line saying what to do."""


def alexnet_weights_path() -> Path:
    """Where the backbone must be: ``torch.hub.get_dir()/checkpoints/alexnet-owt-7be5be79.pth`` (reads
    ``$TORCH_HOME`` at each call)."""
    return torch_hub_checkpoints_dir() / ALEXNET_FILE


def lpips_weights_present() -> bool:
    """Whether the backbone file is in torch hub's cache (the default metric set includes lpips only then)."""
    return alexnet_weights_path().is_file()


def missing_weights_message(reason: str) -> str:
    """One line: what is missing, why, and the command or URL that fixes it."""
    return (
        f"LPIPS needs AlexNet's weights {ALEXNET_FILE} in {alexnet_weights_path().parent} ({reason}); "
        f"fetch them with `{FETCH_COMMAND}` where there is network, or download {ALEXNET_URL} into that folder"
    )


def fetch_lpips_weights() -> Path:
    """Download the backbone from torchvision's URL into torch hub's cache (sha256 prefix checked while streaming,
    the file moved into place only when complete); the path. :class:`LpipsWeightsError` on any failure."""
    target = alexnet_weights_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target) as staging:
            torch.hub.download_url_to_file(ALEXNET_URL, str(staging), hash_prefix=ALEXNET_SHA256_PREFIX)
    except Exception as exc:  # network, HTTP, disk or hash failure: all mean "not available", said in one line
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise LpipsWeightsError(
            missing_weights_message(f"download failed: {type(exc).__name__}: {first_line}")
        ) from None
    return target


def ensure_lpips_weights(*, offline: bool | None = None) -> Path:
    """The backbone's path: the cached file, else a download unless ``offline`` (default: ``HF_HUB_OFFLINE`` or
    ``MAE_OFFLINE`` set) - then :class:`LpipsWeightsError` with the line to show."""
    path = alexnet_weights_path()
    if path.is_file():
        return path
    if is_offline(offline):
        raise LpipsWeightsError(missing_weights_message("absent, and downloads are off"))
    return fetch_lpips_weights()


class Lpips:
    """LPIPS distances on one device. Images are [N, 3, H, W] RGB in [0, 1]; 0 means identical, larger is further.

    :meth:`distance` runs the backbone once per distinct original, however many reconstructions share it, and
    combines the features exactly as torchmetrics' ``_LPIPS.forward`` does (unit-normalised features per layer,
    squared differences, the linear heads, spatial mean, summed over the five layers)."""

    def __init__(self, network: torch.nn.Module) -> None:
        self.network = network.eval()

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The five unit-normalised AlexNet feature maps of ``images`` in [0, 1]."""
        from torchmetrics.functional.image.lpips import _normalize_tensor

        scaled = self.network.scaling_layer(2.0 * images.float() - 1.0)  # LPIPS takes [-1, 1]
        return [_normalize_tensor(layer) for layer in self.network.net(scaled)]

    def distance(self, originals: torch.Tensor, pasted: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        """[N] LPIPS between ``originals[image_index[i]]`` ([M, 3, H, W]) and ``pasted[i]`` ([N, 3, H, W])."""
        from torchmetrics.functional.image.lpips import _spatial_average

        with torch.inference_mode():
            reference = self.features(originals)
            candidate = self.features(pasted)
            total = torch.zeros(pasted.shape[0], dtype=torch.float32, device=pasted.device)
            for head, ref, cand in zip(self.network.lins, reference, candidate):
                total += _spatial_average(head((ref[image_index] - cand) ** 2)).flatten()
        return total

    def spatial(self, originals: torch.Tensor, pasted: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] LPIPS map between ``originals[image_index[i]]`` and ``pasted[i]``: each layer's linear-head
        output upsampled (bilinear) to the image size, summed over the five layers - torchmetrics' / lpips'
        ``spatial=True``. Its mean over the pixels is close to (not exactly) :meth:`distance`."""
        size = tuple(pasted.shape[-2:])
        with torch.inference_mode():
            reference = self.features(originals)
            candidate = self.features(pasted)
            total = torch.zeros(pasted.shape[0], 1, *size, dtype=torch.float32, device=pasted.device)
            for head, ref, cand in zip(self.network.lins, reference, candidate):
                layer = head((ref[image_index] - cand) ** 2)  # [N, 1, h, w]
                total += torch.nn.functional.interpolate(layer, size=size, mode="bilinear", align_corners=False)
        return total


_CACHE: dict[tuple, Lpips] = {}
_CACHE_LOCK = threading.Lock()


def load_lpips(device: torch.device | str = "cpu", *, offline: bool | None = None) -> Lpips:
    """The LPIPS network on ``device``, built once per (weights file, device) and shared (thread-safe).
    :class:`LpipsWeightsError` when the backbone is unavailable (see :func:`ensure_lpips_weights`) or unreadable."""
    path = ensure_lpips_weights(offline=offline)
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, str(torch.device(device)))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Lpips(_build_network(path).to(device))
        return _CACHE[key]


def _build_network(path: Path) -> torch.nn.Module:
    """torchmetrics' LPIPS module: heads from its package file, AlexNet convolutions from ``path``."""
    from torchmetrics.functional.image.lpips import _LPIPS

    # pnet_rand: an untrained backbone, so torchvision neither downloads nor unpickles anything; the heads are
    # torchmetrics' own file, read by torchmetrics
    network = _LPIPS(pretrained=True, net="alex", pnet_rand=True)
    features = _alexnet_features(path)
    for block in (network.net.slice1, network.net.slice2, network.net.slice3, network.net.slice4, network.net.slice5):
        for index, module in block.named_children():  # torchmetrics keeps torchvision's layer indices as names
            module.load_state_dict(features[int(index)].state_dict())
    return network


def _alexnet_features(path: Path) -> torch.nn.Sequential:
    """torchvision's AlexNet ``features`` with the convolutions of ``path`` (the classifier, if present, is unused)."""
    from torchvision.models import alexnet

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or pickled objects beyond tensors
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise LpipsWeightsError(
            f"{path} is not a readable weights file ({type(exc).__name__}: {first_line}); "
            f"delete it and fetch it again with `{FETCH_COMMAND}`"
        ) from None
    features = alexnet(weights=None).features
    prefix = "features."
    convs = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)} if isinstance(state, dict) else {}
    try:
        features.load_state_dict(convs, strict=True)
    except RuntimeError as exc:
        raise LpipsWeightsError(
            f"{path} does not hold AlexNet's convolutions ({str(exc).splitlines()[0]}); "
            f"delete it and fetch it again with `{FETCH_COMMAND}`"
        ) from None
    return features
