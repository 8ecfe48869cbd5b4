"""``python -m mae_core checkpoints | download NAME... | verify [NAME...]``: the checkpoint registry from a shell.

``download lpips`` fetches the AlexNet weights of the ``lpips`` metric (``mae_core.evaluation.perceptual``) instead.

Errors print one line (no traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from .checkpoints.errors import CheckpointError
from .checkpoints.registry import CheckpointEntry, checkpoint_status, expected_sha256, registry
from .checkpoints.sources import hub_blob_sha256, resolve
from .evaluation.perceptual import DOWNLOAD_NAME as LPIPS_DOWNLOAD_NAME
from .evaluation.perceptual import LpipsWeightsError, ensure_lpips_weights
from .files import file_sha256


def _size(num: int | None) -> str:
    if num is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if num < 1000 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1000
    return "?"


def cmd_checkpoints(entries: Mapping[str, CheckpointEntry], _names: Sequence[str]) -> int:
    rows = [("NAME", "ARCHITECTURE", "LOSS", "STATUS", "SIZE", "WHERE")]
    for entry in entries.values():
        status = checkpoint_status(entry)
        where = str(status.path) if status.path else "; ".join(s.describe() for s in entry.sources)
        rows.append((entry.name, entry.architecture, entry.loss_type, status.state, _size(status.size), where))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])
    return 0


def cmd_download(entries: Mapping[str, CheckpointEntry], names: Sequence[str]) -> int:
    """Fetch each name in turn; one line per name (stdout when on disk, stderr when not); 1 if any failed."""
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # its retry warnings: the one line per name says what failed and what next
    failed = 0
    for name in names:
        if name == LPIPS_DOWNLOAD_NAME:
            failed += not _download_lpips()
            continue
        try:
            # downloads unless HF_HUB_OFFLINE / MAE_OFFLINE is set; offline, files already on disk still succeed
            resolved = resolve(name, registry=entries)
        except (ValueError, OSError) as exc:  # CheckpointError and RegistryError are ValueErrors
            print(f"error: {name}: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
            failed += 1
            continue
        print(f"{resolved.name}: {resolved.path} ({resolved.where})", flush=True)
    if failed and len(names) > 1:
        print(f"error: {failed} of {len(names)} checkpoints could not be fetched", file=sys.stderr)
    return 1 if failed else 0


def _download_lpips() -> bool:
    """The LPIPS backbone into torch hub's cache (offline: found there or not); one line either way."""
    try:
        path = ensure_lpips_weights()
    except LpipsWeightsError as exc:
        print(f"error: {LPIPS_DOWNLOAD_NAME}: {exc}", file=sys.stderr, flush=True)
        return False
    print(f"{LPIPS_DOWNLOAD_NAME}: {path} (torch hub cache)", flush=True)
    return True


def cmd_verify(entries: Mapping[str, CheckpointEntry], names: Sequence[str]) -> int:
    failed = False
    for name in names or list(entries):
        try:
            resolved = resolve(name, offline=True, registry=entries)
        except CheckpointError:
            print(f"{name}: missing")
            failed = failed or bool(names)  # only a checkpoint asked for by name must be present
            continue
        actual = file_sha256(resolved.path)  # always re-read: verify exists to catch damaged files
        expected = expected_sha256(resolved.source) or hub_blob_sha256(resolved.path)
        if expected is None:
            print(f"{name}: unverified (no published sha256) sha256={actual} {resolved.path}")
        elif actual == expected:
            print(f"{name}: ok sha256={actual}")
        else:
            print(f"{name}: MISMATCH expected {expected}, got {actual} for {resolved.path}")
            failed = True
    return 1 if failed else 0


COMMANDS = {"checkpoints": cmd_checkpoints, "download": cmd_download, "verify": cmd_verify}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry",
        metavar="FILE",
        help="JSON/TOML file adding or overriding entries (default: $MAE_CHECKPOINTS_FILE)",
    )
    parser = argparse.ArgumentParser(prog="python -m mae_core", description="MAE checkpoints: list, fetch, verify.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("checkpoints", parents=[common], help="list registry entries with status and size")
    fetch = sub.add_parser("download", parents=[common], help="fetch checkpoints into the HF / torch hub caches")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="registry name, hf://org/repo[/file] or URL")
    verify = sub.add_parser("verify", parents=[common], help="check sha256 of checkpoints on disk")
    verify.add_argument("names", nargs="*", metavar="NAME", help="default: every entry on disk")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        entries = registry(args.registry)
        return COMMANDS[args.command](entries, getattr(args, "names", []))
    except (ValueError, OSError) as exc:  # CheckpointError and RegistryError are ValueErrors
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
