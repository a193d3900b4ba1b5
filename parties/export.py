"""Export a job's result: a PNG plot or a CSV table (`mpc job result`).

matplotlib is an optional dependency (the `plot` extra); the CSV export
needs nothing beyond the standard library.
"""

from __future__ import annotations

import csv
from pathlib import Path


def result_rows(result: dict) -> list[dict]:
    """Flatten a result into one row per released value."""
    rows = []
    for query in result["queries"]:
        if "values" in query:
            labels = query.get("bins") or list(range(len(query["values"])))
            for label, value, interval in zip(labels, query["values"],
                                              query["intervals95"]):
                if isinstance(label, list):
                    label = f"[{label[0]:g},{label[1]:g})"
                rows.append(_row(query, str(label), value, interval))
        else:
            rows.append(_row(query, "", query.get("value"),
                             query.get("interval95")))
    return rows


def _row(query: dict, label: str, value, interval) -> dict:
    return {
        "query": query["name"], "kind": query["kind"], "bin": label,
        "value": value, "std": query.get("std"),
        "low95": interval[0] if interval else None,
        "high95": interval[1] if interval else None,
    }


def write_csv(result: dict, path: str | Path) -> None:
    """Write one CSV row per released value with its 95% interval."""
    rows = result_rows(result)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_plot(result: dict, path: str | Path) -> None:
    """Draw each query in its own panel with 95% interval error bars.

    Histograms become bar charts; scalar queries become points.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError(
            "plotting needs matplotlib: pip install 'mpc-joint-stats[plot]'"
        ) from None

    queries = result["queries"]
    figure, axes = plt.subplots(len(queries), 1, squeeze=False,
                                figsize=(8, 2.8 * len(queries)))
    for axis, query in zip(axes[:, 0], queries):
        if "values" in query:
            _plot_bars(axis, query)
        else:
            _plot_point(axis, query)
        axis.set_title(f"{query['name']} ({query['kind']})")
    verified = "verified" if result.get("verified") else "NOT verified"
    figure.suptitle(f"job {result['job_id'][:12]}: {verified}, epsilon "
                    f"{result['epsilon']:g}; bars show 95% intervals")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_bars(axis, query: dict) -> None:
    values = query["values"]
    labels = query.get("bins") or list(range(len(values)))
    names = [f"{b[0]:g}-{b[1]:g}" if isinstance(b, list) else str(b)
             for b in labels]
    low = [v - i[0] for v, i in zip(values, query["intervals95"])]
    high = [i[1] - v for v, i in zip(values, query["intervals95"])]
    axis.bar(names, values, yerr=[low, high], capsize=3, color="#4878a8")
    axis.tick_params(axis="x", labelrotation=45)


def _plot_point(axis, query: dict) -> None:
    value, interval = query.get("value"), query.get("interval95")
    if value is None:
        axis.text(0.5, 0.5, "no value", ha="center")
        return
    axis.errorbar([value], [0], xerr=[[value - interval[0]],
                                      [interval[1] - value]],
                  fmt="o", capsize=4)
    axis.set_yticks([])
