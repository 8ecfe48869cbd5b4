"""MAE's Figure 6 ordering, checked on a run: per image, which mask strategy is the easier task.

The paper (He et al., 2021, section 4 and Figure 6): grid masking is the easier task (lower reconstruction loss),
block-wise masking the harder one. This script reads a run that swept several strategies at one ratio (see
docs/paper-check.md for the command), and prints, per checkpoint:

1. the mean of the metric per strategy over images (each image's value is its mean over seeds);
2. per image, the strategies ordered from lowest to highest metric;
3. paired comparisons of strategies over images: for each pair (harder - easier, in the paper's order), the mean
   per-image difference with its 95 % Student-t interval over images, the paired t-test and Wilcoxon p-values
   (experiments.analysis), and how many images follow the paper's order.

Usage: python -m examples.paper_check RUN_ID [--out ROOT] [--metric mse] [--ratio 0.75]
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from experiments.analysis import paired_tests, study_cells, t_interval
from experiments.store import RunStore, load_runs

PAPER_ORDER = ("grid", "random", "block")  # easiest to hardest, MAE Figure 6


def strategy_table(df: pd.DataFrame, metric: str, ratio: float) -> pd.DataFrame:
    """Per checkpoint and image, the seed-mean ``metric`` of each strategy (columns in the paper's order)."""
    frame = study_cells(df, metric)
    frame = frame[(frame["mask_ratio"] - ratio).abs() < 1e-9]
    if frame.empty:
        raise ValueError(f"the run has no cells at ratio {ratio:g}")
    table = frame.pivot_table(index=["checkpoint", "image"], columns="mask", values=metric, aggfunc="mean")
    missing = [m for m in PAPER_ORDER if m not in table.columns]
    if missing:
        raise ValueError(f"the run did not sweep {', '.join(missing)}: sweep with --masks random,block,grid")
    return table[list(PAPER_ORDER)].dropna()


def pair_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint, harder minus easier strategy over images: mean, 95 % t-interval, p-values, images in order."""
    rows = []
    for checkpoint, part in table.groupby(level="checkpoint", sort=False):
        for easier, harder in (("grid", "random"), ("random", "block"), ("grid", "block")):
            diff = (part[harder] - part[easier]).to_numpy()
            mean, _, low, high = t_interval(diff)
            p_ttest, p_wilcoxon = paired_tests(part[harder].to_numpy(), part[easier].to_numpy())
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "comparison": f"{harder} - {easier}",
                    "n_images": len(diff),
                    "mean_diff": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "p_ttest": p_ttest,
                    "p_wilcoxon": p_wilcoxon,
                    "images_in_paper_order": f"{int((diff > 0).sum())}/{len(diff)}",
                }
            )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id", help="a run id, or latest")
    parser.add_argument("--out", help="run store root [$MAE_RUNS_DIR or ./runs]")
    parser.add_argument("--metric", default="mse", help="[mse]")
    parser.add_argument("--ratio", type=float, default=0.75, help="[0.75]")
    args = parser.parse_args(argv)
    try:
        (run_id,) = RunStore(args.out).resolve_ids([args.run_id])
        table = strategy_table(load_runs([run_id], root=args.out), args.metric, args.ratio)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    fmt = {"float_format": lambda v: f"{v:.4g}"}
    means = table.groupby(level="checkpoint", sort=False).mean()
    print(f"{args.metric} at ratio {args.ratio:g}, mean over images of each image's seed mean:")
    print(means.to_string(**fmt))
    for checkpoint, row in means.iterrows():
        order = " < ".join(row.sort_values().index)
        verdict = "matches" if tuple(row.sort_values().index) == PAPER_ORDER else "does NOT match"
        print(f"{checkpoint}: {order} ({verdict} the paper's grid < random < block)")
    print("\nper image (seed means), strategies from easiest to hardest:")
    ordered = table.apply(lambda r: " < ".join(r.sort_values().index), axis=1).rename("order")
    print(pd.concat([table, ordered], axis=1).to_string(**fmt))
    print("\npaired over images (harder - easier): 95% t-interval over images, paired t-test and Wilcoxon p")
    print(pair_rows(table).to_string(index=False, **fmt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
