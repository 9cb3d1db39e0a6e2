"""PNG plots of a placement comparison, drawn only from recorded results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from edgesched.placement.sim import RunResult


def plot_all(out_dir: Path, results: list[RunResult]) -> list[Path]:
    return [
        plot_jct_distribution(out_dir / "jct_distribution.png", results),
        plot_tasks_in_system(out_dir / "tasks_in_system.png", results),
        plot_utilisation(out_dir / "utilisation.png", results),
    ]


def _by_scheduler(results: list[RunResult]) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {}
    for r in results:
        out.setdefault(r.scheduler, []).append(r)
    return out


def _finish(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    """Label, grid, legend, save as PNG and close."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_jct_distribution(path: Path, results: list[RunResult]) -> Path:
    """Empirical CDF of JCT per scheduler, all seeds pooled."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, runs in _by_scheduler(results).items():
        j = np.sort(np.array([x for r in runs for x in r.jcts], dtype=float))
        ax.step(j, np.arange(1, len(j) + 1) / len(j), where="post", label=name)
    return _finish(
        fig, ax, path, "job completion time (timesteps)", "fraction of tasks", "JCT distribution"
    )


def plot_tasks_in_system(path: Path, results: list[RunResult]) -> Path:
    """Tasks in the system per timestep, first seed of each scheduler, with arrivals so far."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    arrived_drawn = False
    for name, runs in _by_scheduler(results).items():
        r = min(runs, key=lambda x: x.seed)
        ax.plot(r.series["time"], r.series["in_system"], label=name, lw=1.2)
        if not arrived_drawn:
            ax.plot(
                r.series["time"],
                r.series["arrived"],
                color="grey",
                ls="--",
                lw=1,
                label="arrived so far",
            )
            arrived_drawn = True
    title = f"Tasks in the system (seed {min(r.seed for r in results)})"
    return _finish(fig, ax, path, "timestep", "tasks", title)


def plot_utilisation(path: Path, results: list[RunResult]) -> Path:
    """Mean utilisation per cluster and resource, per scheduler (averaged over seeds)."""
    groups = _by_scheduler(results)
    resources = results[0].resources
    n_clusters = len(results[0].utilisation)
    fig, axes = plt.subplots(1, len(resources), figsize=(5 * len(resources), 4), squeeze=False)
    width = 0.8 / max(len(groups), 1)
    x = np.arange(n_clusters)
    for k, res in enumerate(resources):
        ax = axes[0][k]
        for i, (name, runs) in enumerate(groups.items()):
            u = np.nanmean(np.array([[per[k] for per in r.utilisation] for r in runs]), axis=0)
            ax.bar(x + i * width, u, width, label=name)
        ax.set_xticks(x + 0.4 - width / 2, [f"c{n}" for n in range(n_clusters)])
        ax.set_ylim(0, 1)
        ax.set_title(f"{res} utilisation per cluster")
        ax.grid(alpha=0.3, axis="y")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
