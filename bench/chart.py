"""Draws retry lateness against load from the sustained mode's JSON lines.

usage: python3 bench/chart.py RESULTS.jsonl docs/bench-retry-lateness.png
(RESULTS.jsonl: the lines `bench sustained ... --json-out RESULTS.jsonl` appended; other modes'
lines are skipped). Needs matplotlib (`pip install matplotlib`).
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt


def main(results_path, chart_path):
    runs = {}
    with open(results_path) as results:
        for line in results:
            run = json.loads(line)
            if run.get("mode") == "sustained" and run.get("retry_lateness_p50") is not None:
                runs.setdefault(run["store"], []).append(run)
    if not runs:
        sys.exit(f"no sustained runs in {results_path}")

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for store, store_runs in sorted(runs.items()):
        store_runs.sort(key=lambda run: run["offered_rate"])
        rates = [run["offered_rate"] for run in store_runs]
        for key, style in (("retry_lateness_p50", "-o"), ("retry_lateness_p99", "--s")):
            seconds = [run[key] / 1000 for run in store_runs]
            axes.plot(rates, seconds, style, label=f"{store} {key.rsplit('_', 1)[1]}")
    loads = [run["load_avg_before"][0] for store_runs in runs.values() for run in store_runs]
    axes.set_xlabel("offered load (submissions/s; 10 % fail once, retried after 5 s)")
    axes.set_ylabel("retry lateness (s)")
    axes.set_title(f"Retry lateness vs load, cron sweeps every 5 s (1-min load avg {min(loads):.1f}-{max(loads):.1f})")
    axes.title.set_fontsize(10)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(chart_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
