"""The behaviour-cloning warm start: the demonstrations are the teacher's decisions, cloning
fits them, and a warm-started run trains, saves and decides like any other."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgesched.core.errors import ConfigError
from edgesched.placement.episode import Episode
from edgesched.placement.observation import Layout
from edgesched.placement.run import simulate
from edgesched.placement.scenario import with_overrides
from edgesched.placement.sim import Decision
from edgesched.rl.tapfinger.checkpoint import build_net, load_checkpoint
from edgesched.rl.tapfinger.config import TrainConfig
from edgesched.rl.tapfinger.mappo import net_config, policy_mean_jct, train, train_tapfinger
from edgesched.rl.tapfinger.network import TapFingerNet, ValueNorm, evaluate
from edgesched.rl.tapfinger.scheduler import TapFingerScheduler
from edgesched.rl.tapfinger.warmstart import Demo, clone, collect

TASKS = 24
WARM = TrainConfig(
    scenario="synthetic-3",
    tasks=12,
    num_envs=2,
    rollout=8,
    epochs=1,
    minibatches=2,
    hidden=16,
    heads=2,
    layers=1,
    steps=16,
    eval_every=1,
    eval_seeds=[900],
    checkpoint_every=1,
    warm_start="optimus-np",
    warm_episodes=2,
    warm_epochs=2,
    decoding="greedy",
)


@pytest.fixture(scope="module")
def demo() -> Demo:
    return collect("optimus-np", "synthetic-3", [5, 6], tasks=TASKS, progress_bar=False)


def _replay(demo: Demo, start: int, seed: int) -> tuple[float, int]:
    """Drive a fresh episode of ``seed`` with the demonstrations' (slot, allocation) pairs
    from round ``start`` on; returns (mean JCT, rounds used)."""
    core = Episode.build("synthetic-3", tasks=TASKS)
    core.start(seed)
    sim = core.sim
    assert sim is not None
    i = start
    while not sim.done:
        g = demo.graphs[i]
        decisions: list[Decision | None] = []
        for n in range(core.lay.N):
            s = int(demo.slot[i][n])
            if s >= core.lay.K:
                decisions.append(None)
            else:
                decisions.append(Decision(int(g.slot_task[n, s]), tuple(demo.alloc[i][n])))
        core.round(decisions)
        i += 1
    return float(np.mean(sim.result("replay").jcts)), i - start


def test_demonstrations_are_the_teachers_runs(demo: Demo) -> None:
    """Each demonstrated episode is optimus-np's own run of that seed, and the recorded
    (slot, allocation) pairs are its decisions: replayed, they give the same run."""
    sc, _ = with_overrides("synthetic-3", tasks=TASKS)
    expected = [float(np.mean(simulate(sc, "optimus-np", s, record=False).jcts)) for s in (5, 6)]
    assert demo.mean_jct == pytest.approx(expected)
    jct, rounds = _replay(demo, 0, 5)
    assert jct == pytest.approx(expected[0])
    jct2, _ = _replay(demo, rounds, 6)
    assert jct2 == pytest.approx(expected[1])
    assert rounds + _replay(demo, rounds, 6)[1] == len(demo)


def test_recorded_slots_name_the_teachers_tasks(demo: Demo) -> None:
    """Slot K is recorded exactly where the teacher skipped or had nothing to decide."""
    K = Layout(with_overrides("synthetic-3", tasks=TASKS)[0]).K
    started = 0
    for g, slot, alloc, active, decisions in zip(
        demo.graphs, demo.slot, demo.alloc, demo.active, demo.decisions, strict=True
    ):
        for n, d in enumerate(decisions):
            if d is None or not active[n]:
                assert slot[n] == K and not alloc[n].any()
            else:
                started += 1
                assert g.slot_task[n, slot[n]] == d.task
                assert tuple(alloc[n]) == d.alloc  # the grid is the capacity here
    assert started >= TASKS  # conflicts: some tasks were claimed by several clusters
    assert all(r[0] <= 0 for r in demo.returns)


def test_elastic_teacher_is_refused() -> None:
    with pytest.raises(ConfigError, match="re-allocates"):
        collect("optimus", "synthetic-3", [0], tasks=4, progress_bar=False)


def test_cloning_fits_the_demonstrations(demo: Demo) -> None:
    """Cloning lowers the teacher's negative log-likelihood, and the critic's targets are on
    the value normaliser's scale."""
    torch.manual_seed(0)
    lay = Layout(with_overrides("synthetic-3", tasks=TASKS)[0])
    net = TapFingerNet(net_config(lay, dataclasses.replace(WARM, hidden=16)))
    vnorm = ValueNorm()
    rows = clone(
        net,
        vnorm,
        demo,
        epochs=4,
        lr=3e-3,
        batch=16,
        rng=np.random.default_rng(0),
        progress_bar=False,
    )
    assert rows[-1]["nll"] < 0.6 * rows[0]["nll"]
    rets = torch.from_numpy(np.stack(demo.returns)).reshape(-1)
    assert abs(float(vnorm.normalize(rets).mean())) < 0.1


def test_warm_started_training(tmp_path: Path) -> None:
    """A warm-started run records the cloning, keeps its best network and is evaluated the
    way its config says (greedy here)."""
    path = train(WARM, tmp_path, progress_bar=False)
    prog = load_checkpoint(path)["progress"]
    assert prog["warm_start_rounds"] > 0
    assert prog["warm_start_eval_jct"] >= 1.0 and prog["warm_start_teacher_eval_jct"] >= 1.0
    assert (tmp_path / "warmstart.csv").read_text().startswith("epoch,nll,value_loss")
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["progress"]["best_eval_jct"] == prog["best_eval_jct"]
    assert prog["best_eval_jct"] <= prog["warm_start_eval_jct"]
    best_net, _ = build_net(best)
    again = policy_mean_jct(best_net, WARM, WARM.eval_seeds, greedy=True)
    assert again == pytest.approx(prog["best_eval_jct"])
    sched = TapFingerScheduler(path)
    assert sched.greedy
    assert not TapFingerScheduler(path, greedy=False).greedy
    sc, _ = with_overrides("synthetic-3", tasks=12)
    a = simulate(sc, TapFingerScheduler(path), seed=11, record=False)
    b = simulate(sc, TapFingerScheduler(path), seed=11, record=False)
    assert a.tasks == b.tasks


def test_plain_mappo_stays_plain() -> None:
    """Without --warm-start nothing is cloned (the plain-MAPPO result stays reproducible)."""
    assert TrainConfig().warm_start is None and TrainConfig().decoding == "sample"


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"warm_start": "optimus"}, "re-allocates"),
        ({"decoding": "best"}, "sample or greedy"),
        ({"critic_warmup": -1}, "0 or more"),
        ({"reward": "global"}, "local or team"),
    ],
)
def test_bad_warm_start_options(tmp_path: Path, fields: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train_tapfinger("synthetic-3", out=tmp_path, steps=8, log=lambda _: None, **fields)


def test_log_probability_of_demonstrations_is_finite(demo: Demo) -> None:
    """Every recorded action lies inside the network's masks (no -1e9 log-probabilities)."""
    lay = Layout(with_overrides("synthetic-3", tasks=TASKS)[0])
    net = TapFingerNet(net_config(lay, WARM))
    from edgesched.rl.tapfinger.graph import collate

    b = collate(demo.graphs)
    sl = torch.from_numpy(np.stack(demo.slot)).reshape(-1)
    al = torch.from_numpy(np.stack(demo.alloc)).reshape(-1, lay.R)
    with torch.no_grad():
        logp, _, _ = evaluate(net, b, sl, al, torch.zeros(len(sl), dtype=torch.bool))
    assert torch.isfinite(logp).all() and float(logp.min()) > -100


@pytest.mark.parametrize("variant", ["no-han", "no-pointer", "vanilla"])
def test_warm_start_works_with_every_variant(demo: Demo, variant: str) -> None:
    """The ablation variants clone too; vanilla's fixed task order leaves only the
    allocation to imitate, and the loss stays finite."""
    torch.manual_seed(0)
    lay = Layout(with_overrides("synthetic-3", tasks=TASKS)[0])
    net = TapFingerNet(net_config(lay, dataclasses.replace(WARM, variant=variant)))
    rows = clone(
        net,
        ValueNorm(),
        demo,
        epochs=2,
        lr=3e-3,
        batch=16,
        rng=np.random.default_rng(0),
        progress_bar=False,
    )
    assert all(np.isfinite(r["nll"]) and r["nll"] < 50 for r in rows)
    assert rows[-1]["nll"] < rows[0]["nll"]


def test_critic_warmup_trains_the_critic_only(tmp_path: Path) -> None:
    """With --critic-warmup the first PPO updates leave the actor (and the encoder it shares
    with the critic) exactly as the cloning left it and fit the critic; without, PPO moves
    both."""

    def params(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        model = load_checkpoint(path)["model"]
        critic = {k: v for k, v in model.items() if k.startswith("critic.")}
        actor = {k: v for k, v in model.items() if not k.startswith("critic.")}
        assert critic and actor
        return actor, critic

    for warmup, out in ((2, tmp_path / "warm"), (0, tmp_path / "plain")):
        cfg = dataclasses.replace(WARM, steps=32, critic_warmup=warmup)
        last = train(cfg, out, progress_bar=False)
        assert load_checkpoint(last)["progress"]["update"] == 2
        cloned_actor, cloned_critic = params(out / "best.pt")
        actor, critic = params(last)
        same_actor = all(torch.equal(actor[k], cloned_actor[k]) for k in actor)
        assert same_actor == (warmup > 0)
        assert any(not torch.equal(critic[k], cloned_critic[k]) for k in critic)


def test_team_reward_sums_to_the_total_jct(demo: Demo) -> None:
    """--reward team gives every agent minus every task in the system each round, so the
    return from an episode's first round is minus the sum of its JCTs; the paper's local
    reward differs between clusters."""
    team = collect(
        "optimus-np", "synthetic-3", [5, 6], tasks=TASKS, progress_bar=False, reward="team"
    )
    rets = np.stack(team.returns)
    assert (rets == rets[:, :1]).all()
    local = np.stack(demo.returns)
    assert local.shape == rets.shape and not (local == local[:, :1]).all()
    sc, _ = with_overrides("synthetic-3", tasks=TASKS)
    jcts = simulate(sc, "optimus-np", 5, record=False).jcts  # the first episode's
    assert float(np.mean(jcts)) == team.mean_jct[0]
    assert rets[0, 0] == -float(np.sum(jcts))


def test_team_reward_trains(tmp_path: Path) -> None:
    cfg = dataclasses.replace(WARM, reward="team")
    prog = load_checkpoint(train(cfg, tmp_path, progress_bar=False))["progress"]
    assert prog["update"] >= 1 and np.isfinite(prog["best_eval_jct"])
    with pytest.raises(ConfigError, match="local or team"):
        train_tapfinger(
            "synthetic-3", out=tmp_path / "bad", steps=8, log=lambda _: None, reward="x"
        )
