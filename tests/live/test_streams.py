"""The streams setting served live: the same routes as the simulator for the same state, and
streams and queries end to end through a gateway with tiny models."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgesched.dispatch.streams.env import TREND_S, observe
from edgesched.dispatch.streams.scenario import load
from edgesched.dispatch.streams.schedulers import STATIC_NAMES, make
from edgesched.dispatch.streams.simulator import StreamSim
from edgesched.live.streams import StreamRuntime, StreamsFull, StreamView

from .conftest import gateway

PAYLOAD = base64.b64encode(b"\x05" * 3000).decode()


@pytest.fixture(scope="module")
def aset_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ASET checkpoint for live-streams (one PPO rollout: its decisions are what matter)."""
    from edgesched.rl.aset import train_aset

    out = tmp_path_factory.mktemp("aset")
    train_aset("live-streams", steps=128, out=out, n_envs=1, log=lambda *a, **k: None)
    return out / "aset.zip"


def sim_and_view(windows: int = 3) -> tuple[StreamSim, StreamView]:
    """A simulated run some windows in, and a live view holding the same state: committed
    loads, queued work, the last window's statistics and the streams under way."""
    world = load("live-streams", lam=120)
    sim = StreamSim(world, seed=3)
    sim.attach(make("random"))
    for _ in range(windows):
        sim.step_window()
    now = sim.window * sim.window_s
    view = StreamView(world, clock=lambda: now)
    view.set_committed(sim.acc_load.copy())
    view.backlog_s[:] = sim.backlog_s
    view.last = sim.last
    view.previous = sim.previous
    view.window = sim.window
    for i in range(sim._next_arrival):
        if sim.t0[i] < now:  # ended ones too: the trends observation counts recent arrivals
            view.open(int(sim.app[i]), int(sim.ap[i]), float(sim.t0[i]))
    return sim, view


def test_view_candidates_room_and_estimates_are_the_simulators() -> None:
    """The live view's candidates, room, utilisation, expected wait and the ASET
    observation equal the simulator's for the same state."""
    sim, view = sim_and_view()
    assert sim.acc_load.sum() > 0  # a loaded state, not an empty one
    np.testing.assert_array_equal(view.utilisation(), sim.utilisation())
    np.testing.assert_array_equal(view.active_clients(), sim.active_clients())
    for row_sim, row_live in zip(sim.candidates, view.candidates, strict=True):
        for cs, cl in zip(row_sim, row_live, strict=True):
            np.testing.assert_array_equal(cs.cluster, cl.cluster)
            np.testing.assert_array_equal(cs.variant, cl.variant)
            np.testing.assert_array_equal(sim.room(cs), view.room(cl))
            np.testing.assert_array_equal(sim.expected_wait_ms(cs), view.expected_wait_ms(cl))
    assert sim.previous is not None and sim.recent_arrivals(30.0).sum() > 0
    np.testing.assert_array_equal(view.recent_arrivals(30.0), sim.recent_arrivals(30.0))
    for last in (-1, 4):
        for layout in ("basic", "trends"):
            np.testing.assert_array_equal(
                observe(sim, last, layout),
                observe(view, last, layout),
            )


@pytest.mark.parametrize("name", STATIC_NAMES)
def test_same_route_live_and_in_sim_for_every_static_policy(name: str) -> None:
    """Every static policy routes every (access point, application) to the same candidate
    live and in simulation from the same state (random ones with the same stream)."""
    sim, view = sim_and_view()
    p_sim, p_live = make(name), make(name)
    p_sim.reset(sim.world, np.random.default_rng(7))
    p_live.reset(view.world, np.random.default_rng(7))
    chosen = []
    for row_sim, row_live in zip(sim.candidates, view.candidates, strict=True):
        for cs, cl in zip(row_sim, row_live, strict=True):
            for _ in range(3):
                a = p_sim.route(sim, cs, sim.room(cs))
                b = p_live.route(view, cl, view.room(cl))
                assert a == b
                chosen.append(a)
    assert any(k >= 0 for k in chosen)


def test_aset_picks_the_same_policy_live_and_in_sim(aset_checkpoint: Path) -> None:
    """ASET's window decision from the live view equals the one from the simulator."""
    sim, view = sim_and_view()
    a_sim = make("aset", checkpoint=aset_checkpoint)
    a_live = make("aset", checkpoint=aset_checkpoint)
    for a, state in ((a_sim, sim), (a_live, view)):
        a.reset(sim.world, np.random.default_rng(0))
        a.begin_window(state)  # type: ignore[arg-type]
        a.begin_window(state)  # type: ignore[arg-type]  (the second sees its last choice)
    assert a_sim.choice == a_live.choice


def test_view_routes_and_releases_as_the_simulator() -> None:
    """Routing a stream commits its load on the cluster's least-loaded accelerator;
    its end releases it; re-routing at a window start routes only the streams under way."""
    world = load("live-streams")
    now = [0.0]
    view = StreamView(world, clock=lambda: now[0])
    p = [a.name for a in world.apps].index("classify-accurate")
    i = view.open(p, 0)
    k = view.route(i, make("closest"))
    assert k >= 0 and world.cluster_sites[int(view.candidates[0][p].cluster[k])] == "cloud"
    assert view.acc_load.sum() == pytest.approx(view.route_load[i])
    now[0] = 30.0  # past its 20 s stream
    view.release_until(now[0])
    assert view.acc_load.sum() == pytest.approx(0.0)
    view.reroute_active(now[0], make("closest"))
    assert view.acc_load.sum() == pytest.approx(0.0)


def _clocked_runtime(now: list[float], **kw: int) -> StreamRuntime:
    """A streams runtime on live-streams without workers, on the clock ``now[0]``."""
    world = load("live-streams")
    rt = StreamRuntime(world, make("closest"), **kw)
    rt.view = StreamView(world, clock=lambda: now[0])
    rt.scheduler.reset(world, np.random.default_rng(0))
    rt.scheduler.begin_window(rt.view)
    return rt


def test_stream_registry_stays_bounded_and_retired_streams_answer_ended() -> None:
    """Over many windows of streams opened at a steady rate, the gateway holds only the
    streams an observation can still read (bounded by the rate times the stream length plus
    the look-back, whatever the run's length); every retired one was past its end, its id is
    answered as ended, and retiring changes nothing a scheduler reads."""
    now = [0.0]
    rt = _clocked_runtime(now)
    view, w = rt.view, rt.world
    window = view.window_s
    longest = max(a.stream_s for a in w.apps)
    per_window = 4  # streams opened per window: 0.8/s
    bound = per_window * ((longest + rt.keep_s) / window + 2)
    opened: list[str] = []
    every: list[tuple[float, float, int]] = []  # (open, end, application) of every stream
    most = 0
    for k in range(200):  # 1,000 s: 800 streams
        for j in range(per_window):
            now[0] = k * window + j * window / per_window
            p = j % len(w.apps)
            opened.append(rt.open(w.apps[p].name, None, None)["stream"])
            every.append((now[0], now[0] + w.apps[p].stream_s, p))
        now[0] = (k + 1) * window
        rt._end_window(now[0])
        # what the schedulers read is what every stream ever opened gives
        start = view.window * window
        active = np.bincount([p for t0, e, p in every if t0 <= now[0] < e], minlength=3)
        recent = np.bincount(
            [p for t0, e, p in every if start - TREND_S <= t0 < start], minlength=3
        )
        assert np.array_equal(view.active_clients(), active)
        assert np.array_equal(view.recent_arrivals(TREND_S), recent)
        most = max(most, len(rt.streams), len(view.t0))
        assert len(rt.streams) == view.held
    assert len(opened) == 800 and most <= bound
    for sid in opened:  # nothing lost: every stream is held, or retired after its end
        assert sid in rt.streams or sid in rt.retired
        assert rt.state_of(sid) in ("open", "ended")
    old = opened[0]
    assert old in rt.retired and rt.state_of(old) == "ended"
    assert rt.state_of("never-opened") == "unknown"
    again = rt.open(w.apps[0].name, None, old)  # a retired id opened again: a new stream
    assert again["stream"] == old and rt.state_of(old) == "open" and old not in rt.retired


def test_stream_registry_refuses_past_its_cap_with_a_reason() -> None:
    """At ``max_streams`` streams under way, opening one more is refused with the reason
    (HTTP 429), after the ended ones have been retired; once they end, it opens again."""
    now = [0.0]
    rt = _clocked_runtime(now, max_streams=3)
    app = rt.world.apps[0]
    for _ in range(3):
        rt.open(app.name, None, None)
    with pytest.raises(StreamsFull, match="max_streams"):
        rt.open(app.name, None, None)
    now[0] = app.stream_s + rt.keep_s + 1.0  # all three ended and out of every look-back
    assert rt.open(app.name, None, "late")["stream"] == "late"
    assert len(rt.streams) == 1 and len(rt.retired) == 3


def test_streams_end_to_end_through_the_gateway(tmp_path: Path) -> None:
    """A stream opened over HTTP is routed by the policy; its queries run on the worker of
    that cluster with that variant, each with one outcome and its time parts; malformed
    requests are 4xx naming the field; status and metrics count what was served."""
    with gateway(tmp_path, "live-streams", "--scheduler", "cheapest") as gw:
        r = httpx.post(gw.url + "/v1/streams", json={"app": "classify", "id": "cam"}, timeout=30)
        assert r.status_code == 200, r.text
        opened = r.json()
        assert opened["routed"] and opened["policy"] == "cheapest"
        assert opened["variant"] == "resnet18" and opened["cluster"] == "co-0-0"
        for _ in range(3):
            q = httpx.post(gw.url + "/v1/streams/cam/infer", json={"payload": PAYLOAD}, timeout=30)
            assert q.status_code == 200, q.text
            data = q.json()
            assert data["outcome"] == "success", data
            assert (data["cluster"], data["variant"]) == ("co-0-0", "resnet18")
            t = data["timing_ms"]
            assert t["network_emulated"] and t["network"] == pytest.approx(2.4 + 4.0, abs=0.01)
            assert t["total"] >= t["network"] + t["compute"]
        acc = httpx.post(gw.url + "/v1/streams", json={"app": "classify-accurate"}).json()
        assert (acc["cluster"], acc["variant"]) == ("cloud", "resnet50")
        q = httpx.post(gw.url + f"/v1/streams/{acc['stream']}/infer", json={"payload": PAYLOAD})
        assert q.json()["variant"] == "resnet50" and q.json()["outcome"] in ("success", "late")
        bad = httpx.post(gw.url + "/v1/streams", json={"app": "translate"})
        assert bad.status_code == 422 and "app" in bad.json()["detail"]
        bad = httpx.post(gw.url + "/v1/streams/cam/infer", json={"payload": "not base64!"})
        assert bad.status_code == 422 and "payload" in bad.json()["detail"]
        missing = httpx.post(gw.url + "/v1/streams/nope/infer", json={"payload": ""})
        assert missing.status_code == 404
        status = httpx.get(gw.url + "/v1/status").json()
        assert status["outcomes"]["success"] >= 3 and status["active_streams"] == 2
        metrics = httpx.get(gw.url + "/metrics").text
        assert 'edgesched_stream_queries_total{cluster="co-0-0",outcome="success"} 3.0' in metrics
        assert httpx.get(gw.url + "/healthz").json()["workers"] == 2


def test_aset_serves_live_and_picks_a_policy_per_window(
    tmp_path: Path, aset_checkpoint: Path
) -> None:
    """`serve live-streams --scheduler aset --checkpoint P`: ASET picks one of the static
    policies at every window start and streams are routed by it."""
    with gateway(
        tmp_path, "live-streams", "--scheduler", "aset", "--checkpoint", str(aset_checkpoint)
    ) as gw:
        opened = httpx.post(gw.url + "/v1/streams", json={"app": "detect"}, timeout=30).json()
        assert opened["policy"] in STATIC_NAMES
        q = httpx.post(gw.url + f"/v1/streams/{opened['stream']}/infer", json={"payload": PAYLOAD})
        assert q.status_code == 200 and q.json()["outcome"] in ("success", "late", "rejected")
        time.sleep(5.5)  # past the first window: the decision was taken again
        status = httpx.get(gw.url + "/v1/status").json()
        assert status["window"] >= 1 and status["policy"] in STATIC_NAMES
        assert "edgesched_stream_windows_total" in httpx.get(gw.url + "/metrics").text


def test_serve_refuses_an_unknown_streams_scheduler_and_a_profile(tmp_path: Path) -> None:
    """A devices scheduler name or --profile on a streams scenario is refused (exit 2)."""
    import subprocess
    import sys

    for extra in (["--scheduler", "fastest-expected"], ["--profile", str(tmp_path / "p.yaml")]):
        out = subprocess.run(
            [sys.executable, "-m", "edgesched.live", "serve", "live-streams", *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2
        assert ("--scheduler" in out.stderr) or ("--profile" in out.stderr)
