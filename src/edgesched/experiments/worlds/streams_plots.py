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
    solid = _solid()
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


#: Lines drawn solid (the rest dashed): the learned schedulers and the two references.
REFERENCES = ("best-static", "oracle-window")


def _solid() -> set[str]:
    return {*SCHEDULERS.names(checkpoint=True), *REFERENCES}


def success_series(results: list[StreamResult]) -> dict[str, np.ndarray]:
    """Per scheduler, the success ratio of each window, pooled over seeds."""
    by_sched: dict[str, np.ndarray] = {}
    for r in results:
        wc = r.window_counts.sum(axis=1)
        by_sched[r.scheduler] = by_sched.get(r.scheduler, np.zeros_like(wc)) + wc
    return {name: wc[:, 0] / np.maximum(wc.sum(axis=1), 1) for name, wc in by_sched.items()}


def _over_time(ax: object, t: np.ndarray, series: dict[str, list[float]], lam: list[float]) -> None:
    solid = _solid()
    for name, ys in sorted(series.items()):
        style = "-" if name in solid else "--"
        width = 1.6 if name in solid else 0.8
        ax.plot(t[: len(ys)], ys, style, linewidth=width, label=name)  # type: ignore[attr-defined]
    ax.set_xlabel("time (s)")  # type: ignore[attr-defined]
    ax.set_ylabel("success ratio per window")  # type: ignore[attr-defined]
    if lam and len(set(lam)) > 1:
        twin = ax.twinx()  # type: ignore[attr-defined]
        twin.step(t[: len(lam)], lam, where="post", color="grey", linewidth=0.8, alpha=0.6)
        twin.set_ylabel("lambda (clients/min/AP)", color="grey")


def plot_success_over_time(
    path: Path, series: dict[str, list[float]], window_s: float, lam: list[float], title: str
) -> None:
    """Success ratio per window of every scheduler on one axes (ASET Fig. 2a); ``series`` as
    :func:`success_series` gives it (or read back from a summary), ``lam`` the lambda in
    force per window (drawn grey on a second axis when it changes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    n = max((len(v) for v in series.values()), default=0)
    _over_time(ax, np.arange(n) * window_s, series, lam)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=3, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_outcomes_by_policy(path: Path, rows: dict[str, dict[str, float]], title: str) -> None:
    """Success, QoS-violation and rejection ratios of every scheduler as stacked bars (ASET
    Fig. 2c-d), best success first; ``rows`` maps a scheduler to its ``success_ratio``,
    ``violation_ratio`` and ``rejection_ratio`` (a summary's ``schedulers``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(rows.items(), key=lambda kv: -(kv[1]["success_ratio"] or 0.0))
    names = [k for k, _ in items]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names)), 4))
    bottom = np.zeros(len(names))
    for outcome, color in zip(OUTCOMES, ("tab:green", "tab:orange", "tab:red"), strict=True):
        vals = np.array([v[f"{outcome}_ratio"] or 0.0 for _, v in items])
        ax.bar(names, vals, bottom=bottom, color=color, label=outcome)
        bottom += vals
    for i, (_, v) in enumerate(items):
        ax.text(i, 0.02, f"{100 * (v['success_ratio'] or 0):.1f}", ha="center", fontsize=6)
    ax.set_ylabel("share of queries")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_patterns(
    path: Path,
    panels: dict[str, dict[str, list[float]]],
    lams: dict[str, list[float]],
    window_s: float,
) -> None:
    """Success per window of every scheduler under each load pattern, one panel per pattern
    (ASET Fig. 3), the pattern's lambda drawn grey; ``panels`` maps a pattern to its series
    (as :func:`success_series` gives them)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4), squeeze=False)
    for ax, (pattern, series) in zip(axes.flat, panels.items(), strict=True):
        n = max((len(v) for v in series.values()), default=0)
        _over_time(ax, np.arange(n) * window_s, series, lams.get(pattern, []))
        ax.set_title(f"{pattern} pattern", fontsize=9)
    axes.flat[0].legend(fontsize=6, ncol=3, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- console
