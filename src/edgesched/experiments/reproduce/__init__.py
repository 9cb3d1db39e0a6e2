"""`edgesched reproduce PAPER`: every experiment behind a seed paper's headline claims.

The runner is :func:`edgesched.experiments.reproduce.runner.reproduce`. Each paper
(:data:`PAPERS`: ``tapfinger``, ``aset``, ``ecsrl``) lists its steps for a size
(:mod:`edgesched.experiments.reproduce.base`); the steps run through the project's own
machinery: an experiment is one `edgesched sweep` (:func:`edgesched.experiments.sweep.run_sweep`,
so its cells are cached and a rerun into the same folder runs only what is missing), a training
is one `edgesched train` (:func:`edgesched.experiments.train.train`). Then the claims table
(``claims.json``, ``claims.csv``), the figures in the papers' forms (``figures/``) and an HTML
report (``report.html``) are made from the recorded results alone.

The folder::

    OUT/reproduce.json            paper, size, steps, version, commit; status running|complete
    OUT/experiments/ID/           one per step: experiment.json (+ the sweep's or training's files)
    OUT/claims.json, claims.csv   one row per claim
    OUT/figures/*.png             the papers' figures, our data
    OUT/report.html               everything above on one self-contained page
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from edgesched.core.errors import ConfigError
from edgesched.core.registry import Registry
from edgesched.experiments.output import write_json
from edgesched.experiments.reproduce.base import Claim, Paper, Records

#: The papers, by name (a factory returning the :class:`Paper`, imported on first use).
PAPERS: Registry[Paper] = Registry("paper")
PAPERS.register(
    "tapfinger",
    "edgesched.experiments.reproduce.tapfinger:paper",
    description="TapFinger (Li et al., IEEE TPDS 2023 / INFOCOM 2023): ML-task placement",
)
PAPERS.register(
    "aset",
    "edgesched.experiments.reproduce.aset:paper",
    description="ASET (Castellano et al., 2023): inference stream dispatch over an ISP edge",
)
PAPERS.register(
    "ecsrl",
    "edgesched.experiments.reproduce.ecsrl:paper",
    description="ECSRL (Lin et al., SenSys 2021 poster): requests on heterogeneous edge devices",
)

MANIFEST = "reproduce.json"
STEP_FILE = "experiment.json"


def paper(name: str) -> Paper:
    """The paper registered as ``name`` (ConfigError listing the known ones)."""
    return PAPERS.make(name)


# ----------------------------------------------------------------------------- claims


def check_folder(folder: Path) -> None:
    """Refuse a folder that is not a complete `reproduce` run (ConfigError saying why)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ConfigError(f"{folder}: no {MANIFEST}; not a `edgesched reproduce` folder.")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}).") from None
    if manifest.get("status") != "complete":
        raise ConfigError(
            f"{folder}: a partial reproduce run (status {manifest.get('status')!r}); finish it "
            f"with `edgesched reproduce {manifest.get('paper')} --out {folder}` first."
        )
    for sid in manifest.get("steps", []):
        sub = folder / "experiments" / sid
        if not (sub / STEP_FILE).is_file():
            raise ConfigError(f"{folder}: step {sid} has no {STEP_FILE}; the folder is partial.")
        info = json.loads((sub / STEP_FILE).read_text())
        need = {
            "sweep": ["results.csv"],
            "measure": ["measure.json"],
            "compare": ["run/summary.json"],
        }.get(info.get("kind"), [])
        if info.get("status") == "complete":
            for name in need:
                if not (sub / name).is_file():
                    raise ConfigError(f"{folder}: step {sid} has no {name}; the folder is partial.")


def claims_of(folder: Path) -> tuple[Paper, Records, list[Claim]]:
    """The paper, records and claims of a complete `reproduce` folder (nothing runs)."""
    check_folder(folder)
    rec = Records(folder)
    spec = paper(rec.manifest["paper"])
    return spec, rec, spec.claims(rec)


CLAIM_COLUMNS = (
    "id",
    "statement",
    "published",
    "source",
    "setting",
    "measured",
    "value",
    "spread",
    "baselines",
    "verdict",
    "reason",
)


def finish(out: Path) -> list[Claim]:
    """Claims and figures of a folder whose steps are all recorded."""
    rec = Records(out)
    spec = paper(rec.manifest["paper"])
    claims = spec.claims(rec)
    write_json(out / "claims.json", [c.as_dict() for c in claims])
    with (out / "claims.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CLAIM_COLUMNS)
        w.writeheader()
        w.writerows(c.as_dict() for c in claims)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    spec.figures(rec, figures)
    return claims


def claims_table(claims: list[Claim]) -> str:
    """The console table of the claims: id, published, measured, verdict."""
    from edgesched.experiments.output import text_table

    rows = [[c.id, c.published[:40], c.measured[:60], c.verdict] for c in claims]
    return "\n".join(text_table(["claim", "published", "measured", "verdict"], rows, (0, 1, 2, 3)))
