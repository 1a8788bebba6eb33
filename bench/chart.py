"""Draws retry lateness against load from the sustained mode's JSON lines.

usage: python3 bench/chart.py RESULTS.jsonl [MORE.jsonl ...] CHART.png
(each RESULTS.jsonl holds the lines `bench sustained ... --json-out RESULTS.jsonl` appended; other
modes' lines are skipped; with several files, each is a series of its own). Needs matplotlib.
"""

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt


def sustained_runs(path):
    runs = {}
    with open(path) as results:
        for line in results:
            run = json.loads(line)
            if run.get("mode") == "sustained" and run.get("retry_lateness_p50") is not None:
                runs.setdefault(run["store"], []).append(run)
    return runs


def main(results_paths, chart_path):
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    loads = []
    for path in results_paths:
        suffix = f" ({pathlib.Path(path).stem})" if len(results_paths) > 1 else ""
        for store, runs in sorted(sustained_runs(path).items()):
            runs.sort(key=lambda run: run["load"])
            x = [run["load"] * 100 for run in runs]
            for key, style in (("retry_lateness_p50", "-o"), ("retry_lateness_p99", "--s")):
                seconds = [run[key] / 1000 for run in runs]
                label = f"{store} {key.rsplit('_', 1)[1]}{suffix}"
                axes.plot(x, seconds, style, label=label)
            for run in runs:
                axes.annotate(f"{run['offered_rate']:.0f}/s", (run["load"] * 100, run["retry_lateness_p50"] / 1000),
                              textcoords="offset points", xytext=(4, -10), fontsize=7)
            loads += [run["load_avg_before"][0] for run in runs]
    if not loads:
        sys.exit("no sustained runs with --load in the results")
    axes.set_xlabel("offered load (% of the accept rate measured on that store; labels: submissions/s)")
    axes.set_ylabel("retry lateness (s, log scale)")
    axes.set_yscale("log")
    axes.set_title(
        "Lateness of 5 s retries (10 % of jobs), cron sweeps every second; "
        f"1-min load avg {min(loads):.1f}-{max(loads):.1f}, 2 vCPUs",
        fontsize=9,
    )
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(chart_path)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:-1], sys.argv[-1])
