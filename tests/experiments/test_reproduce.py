"""`edgesched reproduce`: ECSRL's quick configuration end to end, claims computed again from
the folder alone, verdict rules on hand-built records, and names this version lacks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.experiments.reproduce import check_folder, claims_of
from edgesched.experiments.reproduce.base import (
    NOT_REPRODUCED,
    ONLY_AUTHORS,
    REPRODUCED,
    UNAVAILABLE,
    VERDICTS,
    Experiment,
    Records,
    reduction_claim,
)
from edgesched.experiments.reproduce.ecsrl import SMOKE_POINT
from edgesched.experiments.reproduce.runner import _sweep, _Unavailable, reproduce


@pytest.fixture(scope="module")
def ecsrl_quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`edgesched reproduce ecsrl --quick` (17,000 requests, 3 seeds, every dispatcher)."""
    out = tmp_path_factory.mktemp("repro") / "ecsrl"
    status = main(["reproduce", "ecsrl", "--quick", "--out", str(out), "--no-progress"])
    assert status == 0
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_quick_ecsrl_runs_every_dispatcher_and_writes_claims(ecsrl_quick: Path) -> None:
    from edgesched.dispatch.devices.schedulers import SCHEDULERS

    manifest = json.loads((ecsrl_quick / "reproduce.json").read_text())
    assert manifest["status"] == "complete" and manifest["size"] == "quick"
    assert manifest["version"] and "git_commit" in manifest
    step = ecsrl_quick / "experiments" / "ecsrl-17k"
    info = json.loads((step / "experiment.json").read_text())
    assert set(info["schedulers"]) == set(SCHEDULERS.names())  # every baseline and ecsrl
    rows = _rows(step / "results.csv")
    assert len(rows) == len(SCHEDULERS.names()) * 3
    assert info["configs"][0]["config"]["requests"]["count"] == 17000
    claims = json.loads((ecsrl_quick / "claims.json").read_text())
    assert [c["id"] for c in claims] == [
        "ecsrl-throughput",
        "ecsrl-best-throughput",
        "ecsrl-not-dominated",
    ]
    assert all(c["verdict"] in VERDICTS and c["published"] and c["source"] for c in claims)
    # the measured throughput is the mean over seeds of the recorded per-seed values
    mine = [float(r["throughput_rate"]) for r in rows if r["scheduler"] == "ecsrl"]
    assert claims[0]["value"] == pytest.approx(np.mean(mine), abs=1e-6)
    assert claims[0]["verdict"] == (REPRODUCED if np.mean(mine) > 0.87 else NOT_REPRODUCED)
    assert (ecsrl_quick / "figures" / "ecsrl_throughput_vs_energy.png").stat().st_size > 5000
    assert (ecsrl_quick / "report.html").stat().st_size > 10_000


def test_claims_are_computed_again_from_the_folder_alone(ecsrl_quick: Path, tmp_path: Path) -> None:
    """A copy of the folder without its claims files gives the same claims (nothing runs:
    the cell cache is removed too)."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(ecsrl_quick, copy)
    shutil.rmtree(copy / "experiments" / "ecsrl-17k" / "cells")
    (copy / "claims.json").unlink()
    _, _, claims = claims_of(copy)
    assert [c.as_dict() for c in claims] == json.loads((ecsrl_quick / "claims.json").read_text())


def test_a_complete_folder_is_not_run_again(ecsrl_quick: Path) -> None:
    with pytest.raises(ConfigError, match="complete; render it again"):
        reproduce("ecsrl", size="quick", out=ecsrl_quick)
    with pytest.raises(ConfigError, match="holds a reproduce run of 'ecsrl'"):
        reproduce("ecsrl", size="smoke", out=ecsrl_quick)


def test_unknown_paper_and_size_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown paper 'nope'"):
        reproduce("nope", out=tmp_path / "x")
    with pytest.raises(ConfigError, match="--size 'huge'"):
        reproduce("ecsrl", size="huge", out=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_an_interrupted_run_is_continued(tmp_path: Path) -> None:
    """A folder whose manifest says running is taken up: recorded steps are kept."""
    out = tmp_path / "r"
    reproduce("ecsrl", size="smoke", out=out, jobs=1, progress=False, log=lambda m: None)
    manifest = json.loads((out / "reproduce.json").read_text())
    manifest["status"] = "running"
    (out / "reproduce.json").write_text(json.dumps(manifest))
    before = (out / "experiments" / "ecsrl-17k" / "experiment.json").read_text()
    said: list[str] = []
    reproduce("ecsrl", size="smoke", out=out, jobs=1, progress=False, log=said.append)
    assert any("recorded, kept" in m for m in said)
    assert (out / "experiments" / "ecsrl-17k" / "experiment.json").read_text() == before
    check_folder(out)


def test_names_this_version_lacks_are_left_out_and_reported(tmp_path: Path) -> None:
    """A scheduler not registered is recorded as not available; the others run."""
    step = Experiment(
        "x",
        "x",
        "ecsrl-17k",
        ("round-robin", "optimus-of-the-future"),
        (0,),
        points=(SMOKE_POINT,),
    )
    info = _sweep(step, tmp_path / "x", tmp_path, "local", None, 1, False)
    assert info["schedulers"] == ["round-robin"]
    assert info["unavailable"] == {"optimus-of-the-future": "not registered in this version"}
    missing = Experiment("y", "y", "preset-of-the-future", ("round-robin",), (0,))
    with pytest.raises(_Unavailable, match="no preset 'preset-of-the-future'"):
        _sweep(missing, tmp_path / "y", tmp_path, "local", None, 1, False)


# ----------------------------------------------------------------------------- verdict rules


def _records(tmp_path: Path, jct: dict[str, list[float]], missing: dict[str, str]) -> Records:
    """A reproduce folder with one complete sweep step ``s`` of hand-written mean JCTs."""
    (tmp_path / "experiments" / "s").mkdir(parents=True)
    (tmp_path / "reproduce.json").write_text(
        json.dumps({"paper": "tapfinger", "status": "complete", "steps": ["s"]})
    )
    info = {"kind": "sweep", "status": "complete", "seeds": [0, 1], "unavailable": missing}
    (tmp_path / "experiments" / "s" / "experiment.json").write_text(json.dumps(info))
    with (tmp_path / "experiments" / "s" / "results.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduler", "seed", "mean_jct"])
        for name, values in jct.items():
            for seed, v in enumerate(values):
                w.writerow([name, seed, v])
    return Records(tmp_path)


def _claim(rec: Records, sets: dict[str, list[str]], published: float, kind: str = "point"):
    return reduction_claim(
        rec,
        id="c",
        statement="s",
        published="p",
        published_reduction=published,
        source="src",
        sid="s",
        setting="x",
        ours="tapfinger",
        baseline_sets=sets,
        kind=kind,
    )


SETS = {"textbook": ["optimus"], "authors'": ["optimus-tapfinger"]}


@pytest.mark.parametrize(
    ("ours", "textbook", "authors", "published", "kind", "verdict"),
    [
        # -40 % against both, published -44.5 %: at least half of it
        ([6.0, 6.0], [10.0, 10.0], [10.0, 10.0], 0.445, "point", REPRODUCED),
        # -10 % against the textbook one, -40 % against the authors'
        ([9.0, 9.0], [10.0, 10.0], [15.0, 15.0], 0.445, "point", ONLY_AUTHORS),
        # worse than both
        ([11.0, 11.0], [10.0, 10.0], [10.5, 10.5], 0.445, "point", NOT_REPRODUCED),
        # a bound of 20.5 %: -20 % is not enough
        ([8.0, 8.0], [10.0, 10.0], [10.0, 10.0], 0.205, "bound", NOT_REPRODUCED),
        ([7.9, 7.9], [10.0, 10.0], [10.0, 10.0], 0.205, "bound", REPRODUCED),
    ],
)
def test_reduction_verdicts_follow_the_stated_rule(
    tmp_path: Path,
    ours: list[float],
    textbook: list[float],
    authors: list[float],
    published: float,
    kind: str,
    verdict: str,
) -> None:
    rec = _records(
        tmp_path, {"tapfinger": ours, "optimus": textbook, "optimus-tapfinger": authors}, {}
    )
    c = _claim(rec, SETS, published, kind)
    assert c.verdict == verdict, c.reason
    assert c.value == pytest.approx(np.mean(ours) / np.mean(textbook) - 1.0)


def test_a_missing_baseline_or_agent_makes_the_row_not_available(tmp_path: Path) -> None:
    rec = _records(
        tmp_path,
        {"tapfinger": [6.0, 6.0], "optimus": [10.0, 10.0]},
        {"optimus-tapfinger": "not registered in this version"},
    )
    c = _claim(rec, SETS, 0.445)
    assert c.verdict == REPRODUCED  # against the textbook set; the authors' are reported
    assert "optimus-tapfinger: not registered in this version" in c.reason
    c2 = _claim(rec, {"authors'": ["optimus-tapfinger"]}, 0.445)
    assert c2.verdict == UNAVAILABLE
    assert "not registered in this version" in c2.reason
    c3 = reduction_claim(
        rec,
        id="c",
        statement="s",
        published="p",
        published_reduction=0.4,
        source="src",
        sid="absent",
        setting="x",
        ours="tapfinger",
        baseline_sets=SETS,
    )
    assert c3.verdict == UNAVAILABLE and "no step absent" in c3.reason


def test_dry_run_estimates_every_step_and_writes_nothing(tmp_path: Path, capsys) -> None:
    from edgesched.dispatch.devices.schedulers import SCHEDULERS
    from edgesched.experiments.reproduce.runner import estimate

    (found,) = estimate("ecsrl", "smoke", jobs=1)
    assert found.id == "ecsrl-17k" and found.cells == len(SCHEDULERS.names())
    assert found.seconds > 0 and "one cell timed now" in found.how
    from edgesched.experiments.reproduce import paper
    from edgesched.experiments.reproduce.base import Training
    from edgesched.experiments.reproduce.runner import _budget_s

    budgets = {s.budget for s in paper("tapfinger").steps("full") if isinstance(s, Training)}
    assert budgets == {"30m"} and _budget_s("30m") == 1800.0 and _budget_s("40s") == 40.0
    assert main(["reproduce", "ecsrl", "--size", "smoke", "--dry-run", "--jobs", "1"]) == 0
    assert "about" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


def test_a_compare_step_runs_what_this_version_has(tmp_path: Path) -> None:
    from edgesched.experiments.reproduce.aset import _over_time
    from edgesched.experiments.reproduce.base import Compare
    from edgesched.experiments.reproduce.runner import _compare

    step = Compare(
        "t",
        "t",
        "aset-full-edge",
        ("closest", "fastest", "policy-of-the-future"),
        (0,),
        60,
        None,
        20,
    )
    info = _compare(step, tmp_path / "t", "local", None, 1, False)
    assert info["schedulers"] == ["closest", "fastest"]
    assert info["unavailable"] == {"policy-of-the-future": "not registered in this version"}
    summary = json.loads((tmp_path / "t" / "run" / "summary.json").read_text())
    assert summary["lam"] == 60 and summary["duration_s"] == 20
    assert _over_time(tmp_path / "t" / "run" / "timeseries.csv", tmp_path / "f.png").is_file()


@pytest.mark.parametrize("name", ["tapfinger", "aset", "ecsrl"])
def test_every_claim_of_a_paper_is_a_row_when_nothing_could_run(tmp_path: Path, name: str) -> None:
    """A version without any of the presets or schedulers a paper needs still gives its full
    claims table: every row 'not available in this version' (or 'not checked') with the reason,
    and no figure."""
    from edgesched.experiments.reproduce import finish, paper

    spec = paper(name)
    steps = spec.steps("smoke")
    (tmp_path / "reproduce.json").write_text(
        json.dumps({"paper": name, "status": "complete", "steps": [s.id for s in steps]})
    )
    for s in steps:
        (tmp_path / "experiments" / s.id).mkdir(parents=True)
        info = {"kind": "sweep", "status": "unavailable", "reason": f"no preset for {s.id}"}
        (tmp_path / "experiments" / s.id / "experiment.json").write_text(json.dumps(info))
    claims = finish(tmp_path)
    assert len(claims) >= 3
    for c in claims:
        assert c.verdict in (UNAVAILABLE, "not checked"), (c.id, c.verdict)
        assert c.reason and c.statement and c.published and c.source
    assert not any((tmp_path / "figures").iterdir())
