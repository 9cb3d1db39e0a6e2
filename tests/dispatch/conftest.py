"""Fixtures of the dispatch tests: a small hand-built world with known distances."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from edgesched.dispatch.streams.topology import Link, Topology, save_graphml
from edgesched.dispatch.streams.world import StreamWorld, load_scenario


def small_topology() -> Topology:
    """ap -1ms- co-a; ap -3ms- co-b; co-a -5ms- cloud (so cloud is 6 ms from ap)."""
    return Topology(
        ["ap", "co-a", "co-b", "cloud"],
        ["access", "co", "co", "cloud"],
        [
            Link("ap", "co-a", 1.0, 1000.0),
            Link("ap", "co-b", 3.0, 1000.0),
            Link("co-a", "cloud", 5.0, 10_000.0),
        ],
        source="small",
    )


def small_scenario(**over: Any) -> dict[str, Any]:
    """One access point, three one-accelerator clusters, one classification application."""
    base: dict[str, Any] = {
        "world": "dispatch",
        "name": "small",
        "description": "three clusters at 1, 3 and 6 ms",
        "topology": {"graphml": "small.graphml"},
        "clusters": [
            {"sites": ["co-a", "co-b"], "device": "edge-gpu", "accelerators": 1},
            {"sites": ["cloud"], "device": "cloud-gpu", "accelerators": 1},
        ],
        "applications": [
            {
                "name": "classify",
                "task": "classification",
                "min_accuracy": 0.75,
                "max_delay_ms": 1000,
                "fps": 10,
                "stream_s": 20,
            }
        ],
        "load": {"access_points": ["ap"], "lam": 30, "duration_s": 30},
        "processing_jitter": 0.0,
    }
    base.update(over)
    return base


@pytest.fixture
def make_world(tmp_path: Path) -> Callable[..., StreamWorld]:
    """Build the small world (keyword arguments replace top-level scenario fields)."""

    def build(**over: Any) -> StreamWorld:
        save_graphml(small_topology(), tmp_path / "small.graphml")
        path = tmp_path / "small.yaml"
        path.write_text(yaml.safe_dump(small_scenario(**over)))
        return load_scenario(path)

    return build
