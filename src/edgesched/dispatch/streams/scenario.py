"""Streams-setting presets (YAML files shipped in ``edgesched/dispatch/streams/presets/``) and
loading a scenario by preset name or path, with the load options of `edgesched compare`."""

from __future__ import annotations

import dataclasses
import math
from importlib import resources
from pathlib import Path

from edgesched.core.arrivals import read_arrival_trace
from edgesched.core.config import preset_descriptions, read_scenario, scenario_file
from edgesched.core.errors import ConfigError
from edgesched.dispatch.streams.world import StreamScenario, StreamWorld, load_scenario

DEFAULT_SCENARIO = "aset-full-edge"


def preset_dir() -> Path:
    """The folder of the streams-setting presets."""
    return Path(str(resources.files("edgesched.dispatch.streams") / "presets"))


def presets() -> dict[str, str]:
    """Preset name -> one-line description, the default scenario first."""
    return preset_descriptions(preset_dir(), DEFAULT_SCENARIO)


def load(
    scenario: str | Path = DEFAULT_SCENARIO,
    *,
    lam: float | None = None,
    pattern: str | None = None,
    duration_s: float | None = None,
    arrivals: str | Path | None = None,
) -> StreamWorld:
    """A preset name or a scenario YAML path, built into a :class:`StreamWorld` with the given load
    (None: the scenario's). ``arrivals``: a CSV trace of client arrivals
    (:func:`edgesched.core.arrivals.read_arrival_trace`) in place of the Poisson arrivals, each
    client at a loaded access point drawn uniformly, its application by the scenario's mix; the
    run lasts until the trace's end (whole windows), so it excludes a lambda, a pattern and a
    duration.

    Raises:
        ConfigError: unknown preset and no such file, any problem in the file or the trace, a
            trace with a load option.
    """
    path, _ = scenario_file(scenario, preset_dir(), "streams scenario")
    if arrivals is None:
        return load_scenario(path, name=path.stem, lam=lam, pattern=pattern, duration_s=duration_s)
    if lam is not None or pattern is not None or duration_s is not None:
        raise ConfigError(
            "--arrivals sets when every client arrives; it cannot be combined with --lambda, "
            "--pattern or --duration."
        )
    trace = read_arrival_trace(arrivals)
    window = read_scenario(StreamScenario, path, path.stem).window_s
    windows = max(1, math.ceil(trace.end_s / window - 1e-9))
    world = load_scenario(path, name=path.stem, duration_s=min(windows * window, 86_400.0))
    return dataclasses.replace(world, arrivals=trace)
