"""The plots of a streams-setting comparison, from recorded results only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgesched.dispatch.outcomes import OUTCOMES
from edgesched.dispatch.streams.schedulers import SCHEDULERS
from edgesched.dispatch.streams.simulator import StreamResult


def plot_ratios_over_time(path: Path, results: list[StreamResult]) -> None:
    """Success, violation and rejection ratios per window, one panel per scheduler (the
    layout of ASET's Figs. 2 and 3), averaged over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_sched: dict[str, list[StreamResult]] = {}
    for r in results:
        by_sched.setdefault(r.scheduler, []).append(r)
    n = len(by_sched)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False, sharex=True, sharey=True
    )
    for ax, (name, runs) in zip(axes.flat, by_sched.items(), strict=False):
        wc = np.sum([r.window_counts.sum(axis=1) for r in runs], axis=0)
        tot = np.maximum(wc.sum(axis=1, keepdims=True), 1)
        ratios = wc / tot
        t = np.arange(ratios.shape[0]) * runs[0].window_s
        for i, (label, color) in enumerate(
            zip(OUTCOMES, ("tab:green", "tab:orange", "tab:red"), strict=True)
        ):
            ax.plot(t, ratios[:, i], label=label, color=color, linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-0.02, 1.02)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="center right")
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_success_vs_lambda(path: Path, table: dict[str, dict[float, float]]) -> None:
    """Success ratio against lambda (clients per minute per access point), one line per
    scheduler; ``table`` as :func:`edgesched.experiments.worlds.streams.lambda_table` returns
    it (or several runs merged). Learned schedulers and ``best-static`` are solid lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    solid = {*SCHEDULERS.names(checkpoint=True), "best-static"}
    for name, points in sorted(table.items()):
        lams = sorted(points)
        style = "-" if name in solid else "--"
        ax.plot(lams, [points[x] for x in lams], style, marker="o", markersize=3, label=name)
    ax.set_xlabel("lambda (clients per minute per access point)")
    ax.set_ylabel("success ratio")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- console
