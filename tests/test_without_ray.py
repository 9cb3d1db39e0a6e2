"""Ray is an optional extra (`pip install edgesched[ray]`): with ``import ray`` failing, every
module of edgesched imports, the commands run, and `--executor ray` says which extra to
install, before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
SRC = Path(__file__).resolve().parents[1] / "src"

#: Run first in the child: ``import ray`` (and any ``ray.*``) fails as if Ray were absent.
BLOCKER = """
import importlib.abc, sys

class NoRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoRay())
"""

#: The child's checks; it prints one JSON object.
CHILD = """
import contextlib, importlib, io, json, pkgutil, sys
from pathlib import Path
import edgesched
from edgesched.cli import main

modules = [m.name for m in pkgutil.walk_packages(edgesched.__path__, "edgesched.")
           if not m.name.endswith("__main__")]
for name in modules:
    importlib.import_module(name)

def run(*argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()

out = Path(sys.argv[1])
tiny = sys.argv[2]
result = {
    "modules": len(modules),
    "ray_loaded": any(m == "ray" or m.startswith("ray.") for m in sys.modules),
    "compare": run("compare", tiny, "--schedulers", "min", "--seeds", "1", "--out",
                   str(out / "local"), "--jobs", "1"),
    "compare_ray": run("compare", tiny, "--schedulers", "min", "--seeds", "1", "--out",
                       str(out / "ray"), "--executor", "ray"),
    "train_ray": run("train", "tapfinger", tiny, "--steps", "8", "--out", str(out / "train"),
                     "--executor", "ray"),
}
print(json.dumps(result))
"""


def test_everything_but_ray_works_without_ray(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER + CHILD, str(tmp_path), str(DATA / "tiny.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["modules"] > 50 and not result["ray_loaded"]
    code, err = result["compare"]
    assert code == 0, err
    assert (tmp_path / "local" / "summary.json").is_file()
    for key, folder in (("compare_ray", "ray"), ("train_ray", "train")):
        code, err = result[key]
        assert code != 0 and "pip install 'edgesched[ray]'" in err, (key, err)
        assert not (tmp_path / folder).exists(), key
