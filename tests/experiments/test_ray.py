"""The Ray executor: same results as the local one, checkpoints through the object store,
lost workers retried, a cell's own error reported as itself."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from edgesched.core.errors import ConfigError  # noqa: E402
from edgesched.experiments.backend import Prepared  # noqa: E402
from edgesched.experiments.compare import compare  # noqa: E402
from edgesched.experiments.executors import (  # noqa: E402
    EXECUTORS,
    PortablePrepared,
    RayExecutor,
    make_executor,
)
from tests.experiments.test_devices_compare import small_preset  # noqa: E402

#: Run metadata that differs between any two runs.
METADATA = ("command", "created", "git_commit")


@pytest.fixture(scope="module", autouse=True)
def cluster(ray_cluster: Any) -> Any:
    """The session's Ray cluster; this module's functions travel by value (the workers
    cannot import the test modules)."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def same_results(a: Path, b: Path) -> None:
    for f in sorted(a.glob("*.csv")):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in METADATA:
        sa.pop(key), sb.pop(key)
    assert sa == sb


def test_registry_names_both_executors() -> None:
    """`local` and `ray` are registered; an address is refused for the local executor."""
    assert EXECUTORS.names() == ["local", "ray"]
    with pytest.raises(ConfigError, match="--address"):
        make_executor("local", "auto")


def test_placement_compare_is_identical_on_ray(tmp_path: Path) -> None:
    """synthetic-3 with a hand-written and the learned scheduler: every CSV byte and the
    summary (metadata aside) match the local executor's."""
    args: dict[str, Any] = {"schedulers": ["tetris", "tapfinger"], "seeds": [0], "jobs": 1}
    compare("synthetic-3", out=tmp_path / "l", progress=False, **args)
    compare("synthetic-3", out=tmp_path / "r", progress=False, executor="ray", **args)
    same_results(tmp_path / "l", tmp_path / "r")


def test_devices_compare_is_identical_on_ray(tmp_path: Path) -> None:
    """A small device-setting scenario with ecsrl (its checkpoint shipped as bytes) and two
    baselines on two seeds: identical files."""
    scenario = str(small_preset(tmp_path))
    args: dict[str, Any] = {"schedulers": ["least-loaded", "random", "ecsrl"], "seeds": [0, 1]}
    compare(scenario, out=tmp_path / "l", progress=False, jobs=1, **args)
    compare(scenario, out=tmp_path / "r", progress=False, executor="ray", **args)
    same_results(tmp_path / "l", tmp_path / "r")


def checkpoint_seen(prepared: Prepared, original: str) -> tuple[str, bytes]:
    """In a worker: the path of the checkpoint it was given, and its bytes."""
    assert prepared.checkpoint is not None
    return str(prepared.checkpoint), Path(prepared.checkpoint).read_bytes()


def test_checkpoint_travels_as_bytes(tmp_path: Path) -> None:
    """The object put in the store holds the checkpoint's bytes and no path; the worker gets
    a file of its own with the same bytes."""
    ckpt = tmp_path / "user" / "model.zip"
    ckpt.parent.mkdir()
    ckpt.write_bytes(os.urandom(1000))
    prepared = Prepared(world=None, name="x", checkpoint=ckpt)
    portable = PortablePrepared.of(prepared)
    assert portable.prepared.checkpoint is None and portable.checkpoint_bytes == ckpt.read_bytes()
    [(path, data)] = RayExecutor().run(checkpoint_seen, [(prepared, str(ckpt))], progress=False)
    assert path != str(ckpt) and Path(path).name == "model.zip"
    assert data == ckpt.read_bytes()


def die_once(marker: str, x: int) -> int:
    """Kill this worker process the first time (no marker file yet), then answer."""
    if not os.path.exists(marker):
        Path(marker).write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def test_lost_worker_is_retried(tmp_path: Path) -> None:
    """A worker killed mid-run: its cell is retried and every result comes back."""
    marker = str(tmp_path / "killed")
    results = RayExecutor().run(die_once, [(marker, x) for x in range(4)], progress=False)
    assert results == [0, 1, 4, 9]
    assert Path(marker).read_text() == "killed"


def fail_on_two(x: int) -> int:
    if x == 2:
        raise ConfigError(f"cell {x} is broken")
    return x


def test_a_cells_error_is_raised_as_itself() -> None:
    """A cell's own error ends the run with that error (as with the local executor)."""
    with pytest.raises(ConfigError, match="cell 2 is broken"):
        RayExecutor().run(fail_on_two, [(x,) for x in range(4)], progress=False)
