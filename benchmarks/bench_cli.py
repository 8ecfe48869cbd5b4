"""How fast the study command line answers when it only reads runs, and what each command imports.

Makes one run with the bundled tiny pair (``python -m experiments sweep``, not timed), then times ``runs``,
``report`` (which always draws its figure; the command has no option to skip it) and ``--help``, each as a user runs
it: a fresh ``python -m experiments`` process, wall clock from start to exit and the process's CPU time, best of
``--rounds``. Beside each time it lists which of the heavy packages the command imported (torch, timm, datasets,
matplotlib, scipy, pandas), read from ``python -X importtime``.

    .venv/bin/python benchmarks/bench_cli.py                # 10 images x 2 checkpoints x 5 ratios x 3 seeds (300 rows)
    .venv/bin/python benchmarks/bench_cli.py --images 40 --rounds 5

Targets on a 2-core machine (issue 20): ``runs`` <= 1.5 s, ``report`` <= 3 s. Not a timed test: a shared machine's
load moves these numbers; measure on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "datasets", "matplotlib", "scipy", "pandas")


def cli(*args: str, env: dict[str, str], python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "experiments", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def imported(args: tuple[str, ...], env: dict[str, str]) -> list[str]:
    """The heavy top-level packages a command imports (``-X importtime`` lines name every module once)."""
    done = cli(*args, env=env, python_flags=("-X", "importtime"))
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    return [name for name in HEAVY if name in modules]


def best_time(args: tuple[str, ...], env: dict[str, str], rounds: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the best round; CPU (user + system of the process) moves less with the machine's load."""
    times = []
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = cli(*args, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return min(times)


def write_images(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:03d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MAE_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("MAE_RUNS_DIR", None)
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        store = str(Path(scratch) / "runs")
        write_images(Path(scratch) / "imgs", options.images)
        made = cli("sweep", "--images", str(Path(scratch) / "imgs"), "--checkpoints", "tiny-pixel", "tiny-gan",
                   "--ratios", "0.1:0.9:0.2", "--seeds", "0-2", "--out", store, "--no-progress", env=env)  # fmt: skip
        if made.returncode != 0:
            raise SystemExit(f"the sweep failed: {made.stderr.strip()[-2000:]}")
        rows = options.images * 2 * 5 * 3
        commands = {
            "runs": ("runs", "--out", store),
            "report (figure included)": ("report", "latest", "--out", store, "--a", "tiny-pixel", "--b", "tiny-gan"),
            "--help": ("--help",),
        }
        print(f"one run of {rows} rows; fresh process per command, best of {options.rounds}, wall clock")
        print()
        print("| command | wall (s) | CPU (s) | heavy packages imported |")
        print("|---|---|---|---|")
        for label, args in commands.items():
            wall, cpu = best_time(args, env, options.rounds)
            print(f"| `{label}` | {wall:.2f} | {cpu:.2f} | {', '.join(imported(args, env)) or 'none'} |")


if __name__ == "__main__":
    main()
