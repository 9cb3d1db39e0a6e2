"""Matplotlib figures of the reproduce reports, written deterministically (same data, same
bytes: no date or software stamp in the PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def new_figure(ncols: int = 1, width: float = 6.0, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=ncols == 1)


def save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)
    return path


def bars(
    ax: Any, labels: list[str], means: list[float], stds: list[float], highlight: str | None
) -> None:
    """Vertical bars with error bars; the ``highlight`` label in another colour."""
    colors = ["tab:red" if lab == highlight else "tab:blue" for lab in labels]
    ax.bar(range(len(labels)), means, yerr=stds, color=colors, capsize=3)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
