"""`edgesched report`: pages of compare, sweep, reproduce and loadtest folders; refusals of
missing or partial folders; the same bytes on every rendering; a real headless browser loads
every figure without a console message."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edgesched.cli import main
from edgesched.core.errors import ConfigError
from edgesched.experiments.compare import compare
from edgesched.experiments.report import render, write_report
from edgesched.experiments.reproduce.runner import reproduce


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder of each kind, made by the real commands."""
    root = tmp_path_factory.mktemp("report")
    out: dict[str, Path] = {}
    out["compare"] = compare(
        "synthetic-3",
        schedulers=["optimus", "min"],
        seeds=[0, 1],
        out=root / "compare",
        jobs=1,
        progress=False,
    ).out_dir
    sweep = root / "grid.yaml"
    sweep.write_text(
        "base: ecsrl-17k\n"
        "points: [{requests.count: 600, requests.duration_s: 10}]\n"
        "grid: {edge.lan_latency_ms: [1, 5]}\n"
        "schedulers: [round-robin, energy-greedy]\n"
        "seeds: 2\n"
    )
    assert main(["sweep", str(sweep), "--out", str(root / "sweep"), "--jobs", "1"]) == 0
    out["sweep"] = root / "sweep"
    out["reproduce"] = root / "reproduce"
    reproduce("ecsrl", size="smoke", out=out["reproduce"], jobs=1, progress=False, log=str)
    out["loadtest"] = _loadtest(root / "loadtest")
    return out


def _loadtest(folder: Path) -> Path:
    """A loadtest folder written by the load generator's own writer."""
    from edgesched.live.loadgen import LoadRun, Sent, summarize, write

    recs = [
        Sent(i, i * 0.1, "classification", 0.7, 200.0, i * 0.1, 20.0 + i, "success", None, "cpu")
        for i in range(20)
    ]
    run = LoadRun(recs, 2.0, "http://127.0.0.1:1")
    write(folder, run, summarize(run))
    return folder


def test_each_kind_renders_its_tables_metadata_and_config(folders: dict[str, Path]) -> None:
    from edgesched import __version__

    page = render([folders["compare"]])
    assert "optimus" in page and "mean_jct" in page
    assert __version__ in page and "commit" in page
    assert '"pending_slots": 10' in html.unescape(page)  # the scenario's full configuration
    assert page.count("<img ") == len(list(folders["compare"].glob("*.png"))) > 0
    sweep = render([folders["sweep"]])
    assert "edge.lan_latency_ms" in sweep and "energy-greedy" in sweep and __version__ in sweep
    assert '"lan_latency_ms": 5' in html.unescape(sweep)  # the configuration of each point
    rep = render([folders["reproduce"]])
    for needle in ("ecsrl-throughput", "ECSRL poster", "verdict", "ecsrl_throughput_vs_energy"):
        assert needle in rep
    load = render([folders["loadtest"]])
    assert "throughput_rate" in load and "delay.png" in load
    assert "not recorded in this folder" in load  # loadtest records no version
    both = render([folders["compare"], folders["loadtest"]])
    assert 'href="#s0"' in both and 'href="#s1"' in both


def test_the_page_is_self_contained_and_the_same_every_time(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    order = [folders[k] for k in ("reproduce", "compare", "sweep", "loadtest")]
    first = render(order)
    # a copy elsewhere renders to the same bytes: nothing depends on where or when
    copies = []
    for f in order:
        shutil.copytree(f, tmp_path / f.name)
        copies.append(tmp_path / f.name)
    assert render(copies) == first
    srcs = re.findall(r'src="([^"]*)"', first)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "http://" not in first.replace("http://127.0.0.1:1", "")  # the loadtest's URL
    assert "default-src 'none'" in first


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "absent", "no such results folder"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "not a folder"),
        (lambda p: (p / "e").mkdir() or p / "e", "not a results folder"),
        (lambda p: (p / ".out.partial-abc").mkdir() or p / ".out.partial-abc", "partial"),
    ],
)
def test_missing_or_foreign_folders_are_refused(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render([make(tmp_path)])


def test_partial_folders_are_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    def copy(kind: str) -> Path:
        return Path(shutil.copytree(folders[kind], tmp_path / kind))

    c = copy("compare")
    (c / "summary.json").unlink()
    with pytest.raises(
        ConfigError, match=r"results\.csv without summary\.json; the folder is partial"
    ):
        render([c])
    s = copy("sweep")
    (s / "results.csv").unlink()
    with pytest.raises(ConfigError, match="sweep did not finish"):
        render([s])
    s2 = Path(shutil.copytree(folders["sweep"], tmp_path / "sweep2"))
    rows = (s2 / "results.csv").read_text().splitlines()
    (s2 / "results.csv").write_text("\n".join(rows[:-1]) + "\n")
    with pytest.raises(ConfigError, match="7 of the sweep's 8 cells"):
        render([s2])
    r = copy("reproduce")
    m = json.loads((r / "reproduce.json").read_text())
    (r / "reproduce.json").write_text(json.dumps({**m, "status": "running"}))
    with pytest.raises(ConfigError, match="a partial reproduce run"):
        render([r])
    r2 = Path(shutil.copytree(folders["reproduce"], tmp_path / "reproduce2"))
    (r2 / "experiments" / "ecsrl-17k" / "results.csv").unlink()
    with pytest.raises(ConfigError, match=r"has no results\.csv; the folder is partial"):
        render([r2])
    lt = copy("loadtest")
    (lt / "delay.png").unlink()
    with pytest.raises(ConfigError, match=r"without delay\.png"):
        render([lt])
    # the command line: one paragraph, exit status 2, no page written
    assert main(["report", str(lt), "--out", str(tmp_path / "r.html")]) == 2
    assert not (tmp_path / "r.html").exists()


def test_cli_writes_the_page(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    assert main(["report", str(folders["compare"]), str(folders["sweep"]), "--out", str(out)]) == 0
    assert out.read_text() == render([folders["compare"], folders["sweep"]])


# ----------------------------------------------------------------------------- browser


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    return found


def _browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            *extra,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )


def _console(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


def test_headless_chromium_loads_every_figure_without_console_errors(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    from PIL import Image

    page = write_report(
        [folders[k] for k in ("reproduce", "compare", "sweep", "loadtest")],
        tmp_path / "page.html",
    )
    expected = page.read_text().count("<img ")
    dom = _browse(page, tmp_path, "--dump-dom")
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body is not None, dom.stderr[-2000:]
    attrs = dict(re.findall(r'(data-[\w-]+)="(\d+)"', body.group(1)))
    assert attrs == {
        "data-figures": str(expected),
        "data-figures-loaded": str(expected),
        "data-errors": "0",
    }
    assert expected >= 5
    assert _console(dom) == []
    shot = tmp_path / "shot.png"
    res = _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file(), res.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1280, 2400)
    colours = img.getcolors(maxcolors=1 << 20) or []
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert len(colours) > 100  # text, tables and plots, not a blank page
    assert white < 0.97 * img.size[0] * img.size[1]
    # the check can fail: a page with a script error and a blocked remote image
    bad = tmp_path / "bad.html"
    bad.write_text(
        page.read_text().replace(
            "</body>",
            '<img src="http://example.invalid/x.png"><script>undefinedFunction();</script></body>',
        )
    )
    res = _browse(bad, tmp_path, "--dump-dom")
    assert len(_console(res)) >= 2
    attrs = dict(re.findall(r'(data-[\w-]+)="(\d+)"', res.stdout))
    assert attrs["data-errors"] != "0"
    assert int(attrs["data-figures-loaded"]) < int(attrs["data-figures"])
