#!/usr/bin/python3
"""Print tools/bench/forest results as a markdown table with ratios to mlfs.

Usage: forest_table.py RESULTS  (lines: "DATASET SYSTEM KEY VALUE")
"""
import sys

COLS = [
    ("fit_seconds", "fit s", "{:.2f}", "lower"),
    ("predict_rows_per_s", "predict rows/s", "{:,.0f}", "higher"),
    ("latency_us_median", "1-row latency us", "{:.1f}", "lower"),
    ("peak_rss_mb", "peak RSS MB", "{:.0f}", "lower"),
    ("model_bytes", "model MB", "{:.2f}", "lower"),
    ("accuracy", "accuracy", "{:.4f}", None),
    ("roc_auc", "AUC", "{:.4f}", None),
]
SYSTEMS = ["mlfs", "sklearn", "ranger", "xgboost"]


def main():
    res = {}
    header = ""
    for line in open(sys.argv[1]):
        if line.startswith("#"):
            header = line[1:].strip()
            continue
        parts = line.split()
        if len(parts) == 4:
            try:
                v = float(parts[3])
            except ValueError:
                continue
            if v != v:
                continue  # NaN/NA: shown as "-"
            res.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = v
    print(f"Run: {header}\n")
    print("| data set | system | " + " | ".join(c[1] for c in COLS) + " |")
    print("|---|---|" + "---|" * len(COLS))
    for ds, systems in res.items():
        base = systems.get("mlfs", {})
        for sysname in SYSTEMS:
            r = systems.get(sysname)
            if not r:
                continue
            cells = []
            for key, _, fmt, better in COLS:
                v = r.get(key)
                if v is None:
                    cells.append("-")
                    continue
                shown = v / 1e6 if key == "model_bytes" else v
                cell = fmt.format(shown)
                b = base.get(key)
                if sysname != "mlfs" and better and b:
                    ratio = v / b if better == "lower" else b / v
                    cell += f" ({ratio:.1f}x)"
                cells.append(cell)
            print(f"| {ds} | {sysname} | " + " | ".join(cells) + " |")
    print("\n(x) = how many times mlfs is better on that column: the peer's "
          "time, latency, memory or size over mlfs's, or mlfs's rows/s over "
          "the peer's.")


if __name__ == "__main__":
    main()
