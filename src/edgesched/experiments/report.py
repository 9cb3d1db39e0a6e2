"""`edgesched report RUN_DIR [RUN_DIR ...]`: one self-contained HTML page of results folders.

Reads what `compare`, `sweep`, `reproduce` and the live `loadtest` write (nothing runs) and
renders, per folder: its metadata (version, commit, command, seeds), its tables, its figures
(embedded as data URIs: the page needs no network, and its Content-Security-Policy forbids
any), and the scenario's full configuration. A `reproduce` folder adds the claims table,
computed again from the recorded results.

The page is a pure function of the folders' contents: no clock, no absolute path (a folder is
named by its base name), every listing sorted; rendering an old folder again gives the same
bytes. A small inline script records, on the ``<body>``, how many figures loaded and every
script error, for the headless-browser test.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from edgesched.core.errors import ConfigError

#: Metadata keys shown for every folder, in order, with their labels.
META = (
    ("scenario", "scenario"),
    ("world", "world"),
    ("setting", "setting"),
    ("paper", "paper"),
    ("size", "size"),
    ("seeds", "seeds"),
    ("version", "edgesched version"),
    ("git_commit", "commit"),
    ("python", "Python"),
    ("platform", "platform"),
    ("created", "created"),
    ("command", "command"),
    ("checkpoint", "checkpoint"),
    ("wall_s", "wall time (s)"),
)


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    classes: list[str] = field(default_factory=list)


@dataclass
class Section:
    """One folder of the page."""

    anchor: str
    name: str
    kind: str
    meta: list[tuple[str, str]]
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)
    configs: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- reading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({exc}).") from None


def kind_of(folder: Path) -> str:
    """``reproduce``, ``compare``, ``sweep`` or ``loadtest`` (ConfigError for anything else,
    or for a missing or partial folder)."""
    if not folder.exists():
        raise ConfigError(f"{folder}: no such results folder.")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder; give a results folder.")
    if ".partial-" in folder.name:
        raise ConfigError(
            f"{folder}: a partial results folder (a run that did not finish writes here); "
            "nothing to report."
        )
    if (folder / "reproduce.json").is_file():
        return "reproduce"
    summary = folder / "summary.json"
    if summary.is_file():
        data = _read_json(summary)
        if isinstance(data, dict) and "sent" in data and "outcomes" in data:
            for name in ("records.csv", "delay.png"):
                if not (folder / name).is_file():
                    raise ConfigError(
                        f"{folder}: a loadtest folder without {name}; the folder is partial."
                    )
            return "loadtest"
        if isinstance(data, dict) and isinstance(data.get("schedulers"), dict):
            return "compare"  # compare writes summary.json last, in a staged folder
        raise ConfigError(
            f"{summary}: not the summary of a compare or loadtest run (no 'schedulers' or "
            "'sent' field)."
        )
    if (folder / "cells").is_dir():
        if not (folder / "results.csv").is_file():
            raise ConfigError(
                f"{folder}: a sweep folder without results.csv; the sweep did not finish "
                "(rerun it with the same --out)."
            )
        return "sweep"
    results = sorted(p.name for p in folder.glob("results.*"))
    if results:
        raise ConfigError(
            f"{folder}: {results[0]} without summary.json; the folder is partial (or not made "
            "by edgesched)."
        )
    raise ConfigError(
        f"{folder}: not a results folder of compare, sweep, reproduce or loadtest (expected "
        "summary.json, reproduce.json, or a sweep's cells/ and results.csv)."
    )


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        return f"{x:.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.3e}"
    if isinstance(x, list):
        if x and all(isinstance(v, int) for v in x) and x == list(range(x[0], x[0] + len(x))):
            return f"{x[0]}..{x[-1]} ({len(x)})" if len(x) > 3 else ", ".join(map(str, x))
        return ", ".join(_fmt(v) for v in x)
    return str(x)


def _meta(data: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(label, _fmt(data[key])) for key, label in META if data.get(key) is not None]
    for key in ("version", "git_commit"):
        if data.get(key) is None:
            out.append((dict(META)[key], "not recorded in this folder"))
    return out


def _data_uri(path: Path) -> str:
    kind = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figures(folder: Path, under: str | None = None) -> list[tuple[str, str]]:
    root = folder / under if under else folder
    if not root.is_dir():
        return []
    found = sorted(
        (p for p in root.rglob("*") if p.suffix in (".png", ".svg") and p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    return [(p.relative_to(folder).as_posix(), _data_uri(p)) for p in found]


def _scalar_table(title: str, rows: dict[str, dict[str, Any]]) -> Table:
    """One row per scheduler, one column per scalar metric (dicts and lists left out)."""
    cols: list[str] = []
    for v in rows.values():
        cols += [k for k, x in v.items() if _is_scalar(x) and k not in cols]
    body = [[name, *(_fmt(v.get(c)) for c in cols)] for name, v in rows.items()]
    return Table(title, ["scheduler", *cols], body)


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, int | float | str | bool)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(text: str | None) -> float | None:
    try:
        x = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return x if x is not None and math.isfinite(x) else None


def aggregate(
    rows: list[dict[str, Any]], keys: list[str], metrics: list[str] | None = None
) -> Table:
    """Mean ± std over seeds of every numeric metric, one row per (keys..., scheduler)."""
    skip = {*keys, "scheduler", "seed"}
    metrics = metrics or [
        k
        for k in dict.fromkeys(k for r in rows for k in r)
        if k not in skip and any(_num(str(r.get(k, ""))) is not None for r in rows)
    ]
    groups: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds: dict[tuple[str, ...], int] = defaultdict(int)
    for r in rows:
        g = (*(str(r.get(k, "")) for k in keys), str(r["scheduler"]))
        seeds[g] += 1
        for m in metrics:
            v = _num(str(r.get(m, "")))
            if v is not None:
                groups[g][m].append(v)
    body = []
    for g in groups:
        cells = []
        for m in metrics:
            xs = groups[g].get(m, [])
            cells.append(
                "-" if not xs else f"{_fmt(float(np.mean(xs)))} ± {_fmt(float(np.std(xs)))}"
            )
        body.append([*g, str(seeds[g]), *cells])
    return Table("mean ± std over seeds", [*keys, "scheduler", "seeds", *metrics], body)


# ----------------------------------------------------------------------------- sections


def _compare(folder: Path, anchor: str) -> Section:
    s = _read_json(folder / "summary.json")
    sec = Section(anchor, folder.name, "compare", _meta(s))
    sec.tables.append(_scalar_table("per scheduler (pooled over seeds)", s["schedulers"]))
    sec.figures = _figures(folder)
    if "config" in s:
        sec.configs.append(("scenario configuration", json.dumps(s["config"], indent=2)))
    return sec


def _sweep(folder: Path, anchor: str) -> Section:
    info: dict[str, Any] = {}
    if (folder / "sweep.json").is_file():
        info = _read_json(folder / "sweep.json")
    elif (folder / "experiment.json").is_file():  # a reproduce step
        info = _read_json(folder / "experiment.json")
    rows = _csv_rows(folder / "results.csv")
    fields = list(info.get("fields") or [])
    if not fields:
        head = list(rows[0]) if rows else []
        fields = head[: head.index("scheduler")] if "scheduler" in head else []
    planned = info.get("cells")
    if isinstance(planned, int) and len(rows) < planned:
        raise ConfigError(
            f"{folder}: {len(rows)} of the sweep's {planned} cells are recorded; the sweep did "
            "not finish (rerun it with the same --out)."
        )
    meta = _meta(info)
    meta.insert(0, ("cells", str(len(rows))))
    sec = Section(anchor, folder.name, "sweep", meta)
    sec.tables.append(aggregate(rows, fields))
    sec.figures = _figures(folder, "plots")
    if (folder / "sweep.yaml").is_file():
        sec.configs.append(("sweep file", (folder / "sweep.yaml").read_text(encoding="utf-8")))
    for c in info.get("configs", []):
        where = ", ".join(f"{k}={v}" for k, v in c.get("point", {}).items()) or "base"
        sec.configs.append((f"scenario at {where}", json.dumps(c.get("config"), indent=2)))
    return sec


def _loadtest(folder: Path, anchor: str) -> Section:
    s = _read_json(folder / "summary.json")
    sec = Section(anchor, folder.name, "loadtest", _meta(s))
    flat = {k: v for k, v in s.items() if _is_scalar(v)}
    for k, v in (s.get("outcomes") or {}).items():
        flat[f"outcome {k}"] = v
    sec.tables.append(
        Table("summary", ["quantity", "value"], [[k, _fmt(v)] for k, v in flat.items()])
    )
    sec.figures = _figures(folder)
    sec.notes.append("loadtest folders record no edgesched version or commit.")
    return sec


def _reproduce(folder: Path, anchor: str) -> Section:
    from edgesched.experiments.reproduce import claims_of

    spec, rec, claims = claims_of(folder)
    m = rec.manifest
    sec = Section(anchor, folder.name, f"reproduce {spec.name}", _meta(m))
    sec.notes.append(spec.title)
    sec.tables.append(
        Table(
            "claims (computed from the recorded results)",
            [
                "claim",
                "paper's statement",
                "published",
                "source",
                "setting",
                "measured",
                "baselines",
                "verdict",
                "reason",
            ],
            [
                [
                    c.id,
                    c.statement,
                    c.published,
                    c.source,
                    c.setting,
                    c.measured,
                    c.baselines,
                    c.verdict,
                    c.reason,
                ]
                for c in claims
            ],
            classes=[VERDICT_CLASS.get(c.verdict, "v-na") for c in claims],
        )
    )
    steps = []
    for sid, st in rec.steps.items():
        i = st.info
        missing = i.get("unavailable") or {}
        steps.append(
            [
                sid,
                i.get("title", ""),
                i.get("status", ""),
                _fmt(i.get("seeds")),
                ", ".join(i.get("schedulers") or []) or "-",
                "; ".join(f"{k}: {v}" for k, v in sorted(missing.items()))
                or (i.get("reason") or "-"),
                _fmt(i.get("wall_s")),
            ]
        )
    sec.tables.append(
        Table(
            "steps",
            ["step", "what", "status", "seeds", "schedulers", "not available", "wall s"],
            steps,
        )
    )
    for sid, st in rec.steps.items():
        if st.rows:
            t = aggregate(st.rows, list(st.info.get("fields") or []), _main_metrics(st.rows))
            t.title = f"{sid}: mean ± std over seeds"
            sec.tables.append(t)
        if st.info.get("kind") == "measure":
            meas = st.info.get("measure", {})
            flat = [[k, _fmt(v)] for k, v in meas.items() if _is_scalar(v)]
            sec.tables.append(Table(f"{sid}: measured", ["quantity", "value"], flat))
        if st.info.get("kind") == "training":
            tr = st.info.get("training", {})
            sec.tables.append(
                Table(
                    f"{sid}: training", ["quantity", "value"], [[k, _fmt(v)] for k, v in tr.items()]
                )
            )
    sec.figures = _figures(folder, "figures")
    for sid, st in rec.steps.items():
        for c in st.info.get("configs", []):
            where = ", ".join(f"{k}={v}" for k, v in c.get("point", {}).items()) or "base"
            sec.configs.append((f"{sid}: scenario at {where}", json.dumps(c["config"], indent=2)))
    return sec


def _main_metrics(rows: list[dict[str, Any]]) -> list[str]:
    keys = set(rows[0]) if rows else set()
    for group in (
        ["mean_jct", "median_jct", "p95_jct", "utilisation"],
        ["success_ratio", "violation_ratio", "rejection_ratio", "p99_delay_ms"],
        ["throughput_rate", "energy_per_request_j", "mean_slowdown", "p99_delay_ms"],
    ):
        if group[0] in keys:
            return [g for g in group if g in keys]
    return []


#: The row colour of each verdict.
VERDICT_CLASS = {
    "reproduced": "v-ok",
    "not reproduced": "v-bad",
    "reproduced only against the authors' baselines": "v-partial",
}

SECTIONS = {"compare": _compare, "sweep": _sweep, "loadtest": _loadtest, "reproduce": _reproduce}


# ----------------------------------------------------------------------------- page


def _page_template() -> str:
    """The page's Jinja2 template (``report_page.html`` beside this module)."""
    from importlib import resources

    return (resources.files("edgesched.experiments") / "report_page.html").read_text("utf-8")


def render(folders: list[Path]) -> str:
    """The HTML page of the folders (ConfigError for a missing, partial or unknown one)."""
    if not folders:
        raise ConfigError("report: name at least one results folder.")
    kinds = [(f, kind_of(f)) for f in folders]  # every folder checked before any rendering
    sections = [SECTIONS[k](f, f"s{i}") for i, (f, k) in enumerate(kinds)]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    title = ", ".join(f.name for f in folders)
    return env.from_string(_page_template()).render(title=title, sections=sections)


def write_report(folders: list[Path], out: Path) -> Path:
    """Render the folders and write the page to ``out`` (through a temporary file)."""
    page = render(folders)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--out {out}: cannot write the report: {exc.strerror or exc}.") from None
    return out
