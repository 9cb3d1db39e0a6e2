"""The plots of a devices-setting comparison, from recorded results only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesched.dispatch.devices.schedulers import SCHEDULERS


def plot_throughput_vs_energy(path: Path, summary: dict[str, Any]) -> None:
    """Throughput rate against energy per request, one point per dispatcher: every dispatcher
    on the left, a zoom on those within 2 points of the best throughput on the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learned_names = set(SCHEDULERS.names(checkpoint=True))
    points = {
        name: (row["energy_per_request_j"], row["throughput_rate"])
        for name, row in summary["schedulers"].items()
        if row["energy_per_request_j"] is not None and row["throughput_rate"] is not None
    }
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    markers = "osD^v<>phX"
    best = max((y for _, y in points.values()), default=1.0)
    for ax, zoom in zip(axes, (False, True), strict=True):
        for k, (name, (x, y)) in enumerate(points.items()):
            if zoom and y < best - 0.02:
                continue
            learned = name in learned_names
            ax.scatter(
                [x],
                [y],
                label=name,
                marker="*" if learned else markers[k % len(markers)],
                color=plt.get_cmap("tab10")(k % 10),
                s=220 if learned else 50,
                alpha=0.85,
                zorder=3 if learned else 2,
            )
            if zoom:  # the zoom has no legend: name the points beside them
                ax.annotate(name, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=7)
        ax.set_xlabel("energy per request (J, attributed dynamic energy)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("throughput rate (within deadline and accuracy)")
    axes[0].set_title(f"{summary['scenario']}: {len(summary['seeds'])} seed(s)", fontsize=9)
    axes[1].set_title("zoom: within 2 points of the best throughput", fontsize=9)
    axes[1].ticklabel_format(axis="y", useOffset=False)
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- console
