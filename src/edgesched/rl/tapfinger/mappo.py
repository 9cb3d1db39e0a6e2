"""Multi-agent PPO for TapFinger, in one readable module.

One update, top to bottom:

1. rollout: ``num_envs`` placement worlds step ``rollout`` decision rounds each; every round,
   one batched forward pass chooses every agent's action in every world;
2. advantages: per agent, GAE with discount 1 (the paper's) over the rounds, with the
   critic's normalised values mapped back to returns;
3. update: ``epochs`` passes of clipped-surrogate PPO over minibatches of rounds, with an
   entropy bonus, a value loss on normalised targets and gradient clipping; the learning rate
   decays linearly over the run;
4. logging (CSV, TensorBoard when installed), periodic evaluation on held-out seeds,
   checkpoints every ``checkpoint_every`` updates.

Following the paper, a conflict loser's allocation term is dropped from its log-probability
and agents that had nothing to decide in a round are left out of the policy and entropy
terms (they stay in the value loss: their state still needs a value for the advantages).

Training episodes use world seeds drawn from ``[TRAIN_SEED_BASE, 2**31)``, so evaluation seeds
below that (the ``compare`` seeds, 0..N) are never seen in training.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from edgesched.placement.observation import Layout
from edgesched.rl.tapfinger.checkpoint import load_checkpoint, save_checkpoint
from edgesched.rl.tapfinger.config import TrainConfig
from edgesched.rl.tapfinger.graph import Graph, build_graph, collate
from edgesched.rl.tapfinger.network import NetConfig, TapFingerNet, ValueNorm, act, evaluate
from edgesched.rl.tapfinger.vec import TRAIN_SEED_BASE, VecWorlds, Worlds


def net_config(lay: Layout, cfg: TrainConfig) -> NetConfig:
    """The network sizes for a scenario's layout."""
    return NetConfig(
        cluster_dim=lay.cluster_dim,
        pending_dim=lay.pending_dim,
        running_dim=lay.R + lay.T + 1,
        grid=[int(a) for a in lay.grid],
        hidden=cfg.hidden,
        heads=cfg.heads,
        layers=cfg.layers,
        variant=cfg.variant,
    )


def ppo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    adv: torch.Tensor,
    entropy: torch.Tensor,
    active: torch.Tensor,
    clip: float,
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """PPO's clipped surrogate over the agents that had something to decide.

    Advantages are normalised over the active agents only; inactive agents (``active``
    False) contribute nothing to the policy and entropy terms.

    Returns:
        (policy loss, mean entropy, approximate KL, clipped fraction), the last two floats.
    """
    w = active.float()
    count = w.sum().clamp(min=1.0)
    mean = (adv * w).sum() / count
    std = (((adv - mean) ** 2 * w).sum() / count).sqrt()
    adv = (adv - mean) / (std + 1e-8)
    log_ratio = logp - old_logp
    ratio = log_ratio.exp()
    surr = torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    pg = -(surr * w).sum() / count
    ent = (entropy * w).sum() / count
    with torch.no_grad():
        kl = float((((ratio - 1) - log_ratio) * w).sum() / count)
        clipped = float((((ratio - 1).abs() > clip).float() * w).sum() / count)
    return pg, ent, kl, clipped


def policy_mean_jct(
    net: TapFingerNet,
    cfg: TrainConfig,
    seeds: Sequence[int],
    greedy: bool = False,
    max_timesteps: int = 100_000,
) -> float:
    """Mean JCT of the policy over ``seeds`` (all worlds in lockstep); sampling uses a
    generator seeded by the seeds, so the number is deterministic. Worlds still running after
    ``max_timesteps`` (a policy that keeps skipping) give infinity."""
    vec = VecWorlds(cfg.scenario, len(seeds), seeds=seeds, tasks=cfg.tasks, mode=cfg.mode)
    gen = torch.Generator().manual_seed(int(sum(seeds)))
    N = vec.lay.N
    live = list(range(len(seeds)))
    jcts: list[float] = []
    while live:
        cores = [vec.cores[i] for i in live]
        graphs = [build_graph(c.sim, vec.lay) for c in cores if c.sim is not None]
        a = act(net, collate(graphs), generator=gen, greedy=greedy)
        slot = a.slot.numpy().reshape(len(live), N)
        alloc = a.alloc.numpy().reshape(len(live), N, -1)
        p = a.logp_task.exp().numpy().reshape(len(live), N)
        sub = VecWorlds.__new__(VecWorlds)
        sub.cores, sub.lay, sub.finished = cores, vec.lay, []
        sub.returns = np.zeros((len(live), N))
        sub.rng, sub.fixed = None, None
        _, done, _ = sub.step(graphs, slot, alloc, p, restart=False)
        for f in sub.finished:
            jcts.append(f["mean_jct"])
        stuck = [c.sim is not None and c.sim.t - c.sim.first_t > max_timesteps for c in cores]
        if any(stuck):
            return float("inf")
        live = [i for i, d in zip(live, done, strict=True) if not d]
    return float(np.mean(jcts))


class Logger:
    """CSV rows (and TensorBoard scalars when tensorboard is installed)."""

    def __init__(self, out: Path, resume: bool) -> None:
        self.path = out / "progress.csv"
        self.rows_written = resume and self.path.exists()
        self.writer: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional
            pass
        else:
            self.writer = SummaryWriter(str(out / "tb"))

    def log(self, row: dict[str, float]) -> None:
        new = not self.rows_written
        with self.path.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        self.rows_written = True
        if self.writer is not None:
            for k, v in row.items():
                if k != "update" and not (isinstance(v, float) and math.isnan(v)):
                    self.writer.add_scalar(k, v, int(row["steps"]))


def train(
    cfg: TrainConfig,
    out: Path,
    resume: Path | None = None,
    progress_bar: bool | None = None,
    worlds: Callable[[TrainConfig, np.random.Generator], Worlds] | None = None,
) -> Path:
    """Train TapFinger (or a variant) and return the path of the last checkpoint.

    Checkpoints go to ``out/checkpoint.pt`` (the latest) every ``checkpoint_every`` updates and
    at the end; ``out/progress.csv`` gets one row per update. ``worlds`` makes the training
    worlds from the config and the run's generator (default: a local :class:`VecWorlds`;
    :mod:`edgesched.rl.tapfinger.ray_worlds` puts them in Ray actors, with the same result).
    """
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = VecWorlds(cfg.scenario, 1, seeds=[0], tasks=cfg.tasks, mode=cfg.mode)
    lay = probe.lay
    net = TapFingerNet(net_config(lay, cfg))
    vnorm = ValueNorm()
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr, eps=1e-5)
    critic_ids = {id(p) for p in net.critic.parameters()}
    actor_params = [p for p in net.parameters() if id(p) not in critic_ids]
    prog: dict[str, Any] = {
        "update": 0,
        "steps": 0,
        "decisions": 0,
        "wall_s": 0.0,
        "eval_jct": float("nan"),
    }
    if resume is not None:
        ckpt = load_checkpoint(resume)
        try:
            net.load_state_dict(ckpt["model"])
            vnorm.load_state_dict(ckpt["value_norm"])
            if "optimizer" in ckpt:
                optimizer.load_state_dict(ckpt["optimizer"])
            prog.update(ckpt["progress"])
            if "np_rng" in ckpt:
                np_rng.bit_generator.state = ckpt["np_rng"]
            if "torch_rng" in ckpt:
                gen.set_state(ckpt["torch_rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            from edgesched.core.errors import ConfigError

            raise ConfigError(
                f"--resume {resume}: its network, optimizer, progress or random state does not "
                f"fit this training run ({str(exc).strip()[:300]})."
            ) from None
    out.mkdir(parents=True, exist_ok=True)
    logger = Logger(out, resume is not None)
    start_wall = time.perf_counter()
    greedy = cfg.decoding == "greedy"
    if resume is None and cfg.warm_start:
        prog.update(warm_start(net, vnorm, cfg, out, np_rng, progress_bar))
        prog["best_eval_jct"], prog["best_update"] = prog["warm_start_eval_jct"], 0
        save_checkpoint(out / "best.pt", net, vnorm, cfg, None, prog, None, None)
    if worlds is not None:
        vec: Worlds = worlds(cfg, np_rng)
    else:
        vec = VecWorlds(cfg.scenario, cfg.num_envs, rng=np_rng, tasks=cfg.tasks, mode=cfg.mode)
    E, N, T, R = cfg.num_envs, lay.N, cfg.rollout, lay.R
    wall0 = float(prog["wall_s"])
    start_steps = int(prog["steps"])

    def elapsed() -> float:
        return time.perf_counter() - start_wall

    def fraction() -> float:
        parts = [0.0]
        if cfg.steps:
            parts.append(prog["steps"] / cfg.steps)
        if cfg.budget_s:
            parts.append(elapsed() / cfg.budget_s)
        return min(1.0, max(parts))

    def finished() -> bool:
        if cfg.steps is None and cfg.budget_s is None:
            return prog["update"] >= 1
        return fraction() >= 1.0

    total = cfg.steps if cfg.steps else None
    bar = tqdm(
        total=total,
        initial=start_steps if total else 0,
        unit="step",
        desc=f"train {cfg.variant} {lay.N} clusters",
        disable=None if progress_bar is None else not progress_bar,
    )
    ckpt_path = out / "checkpoint.pt"
    try:
        while not finished():
            # ---------------------------------------------------------------- rollout
            graphs_buf: list[list[Graph]] = []
            slot_b = np.zeros((T, E, N), dtype=np.int64)
            alloc_b = np.zeros((T, E, N, R), dtype=np.int64)
            logp_b = np.zeros((T, E, N), dtype=np.float32)
            value_b = np.zeros((T + 1, E, N), dtype=np.float32)
            reward_b = np.zeros((T, E, N), dtype=np.float32)
            done_b = np.zeros((T, E), dtype=bool)
            lost_b = np.zeros((T, E, N), dtype=bool)
            active_b = np.zeros((T, E, N), dtype=bool)
            net.eval()
            graphs = vec.graphs()
            for t in range(T):
                a = act(net, collate(graphs), generator=gen)
                slot = a.slot.numpy().reshape(E, N)
                alloc = a.alloc.numpy().reshape(E, N, R)
                p_task = a.logp_task.exp().numpy().reshape(E, N)
                graphs_buf.append(graphs)
                slot_b[t], alloc_b[t] = slot, alloc
                value_b[t] = vnorm.denormalize(a.value).numpy().reshape(E, N)
                active_b[t] = np.stack([g.can_decide for g in graphs])
                rewards, done, lost = vec.step(graphs, slot, alloc, p_task)
                # a loser's allocation term is not part of the action it was judged on
                logp_b[t] = (a.logp_task + a.logp_alloc).numpy().reshape(E, N)
                logp_b[t][lost] = a.logp_task.numpy().reshape(E, N)[lost]
                if cfg.reward == "team":  # every agent is judged on every task in the system
                    reward_b[t] = rewards[:, N:]
                else:  # the paper's: each cluster's own running, pending and queued tasks
                    reward_b[t] = rewards[:, :N]
                done_b[t], lost_b[t] = done, lost
                graphs = vec.graphs()
            with torch.no_grad():
                last = net(collate(graphs))
            value_b[T] = vnorm.denormalize(last.value).numpy().reshape(E, N)
            prog["steps"] += T * E
            prog["decisions"] += int(active_b.sum())

            # ---------------------------------------------------------------- advantages (GAE)
            adv = np.zeros((T, E, N), dtype=np.float32)
            lastgaelam = np.zeros((E, N), dtype=np.float32)
            for t in reversed(range(T)):
                nonterminal = (~done_b[t]).astype(np.float32)[:, None]
                delta = reward_b[t] + cfg.gamma * value_b[t + 1] * nonterminal - value_b[t]
                lastgaelam = delta + cfg.gamma * cfg.gae_lambda * nonterminal * lastgaelam
                adv[t] = lastgaelam
            returns = adv + value_b[:T]
            ret_t = torch.from_numpy(returns.reshape(-1))
            vnorm.update(ret_t)

            # ---------------------------------------------------------------- update
            net.train()
            lr = cfg.lr * (1.0 - (1.0 - cfg.lr_final) * fraction())
            for group in optimizer.param_groups:
                group["lr"] = lr
            flat_graphs = [g for row in graphs_buf for g in row]
            n_samples = T * E
            mb = max(1, n_samples // cfg.minibatches)
            stats: dict[str, list[float]] = {"pg": [], "vf": [], "ent": [], "kl": [], "clip": []}
            warming_critic = prog["update"] < cfg.critic_warmup
            for _ in range(cfg.epochs):
                order = np_rng.permutation(n_samples)
                for i in range(0, n_samples, mb):
                    idx = order[i : i + mb]
                    batch = collate([flat_graphs[j] for j in idx])
                    sl = torch.from_numpy(slot_b.reshape(n_samples, N)[idx].reshape(-1))
                    al = torch.from_numpy(alloc_b.reshape(n_samples, N, R)[idx].reshape(-1, R))
                    ls = torch.from_numpy(lost_b.reshape(n_samples, N)[idx].reshape(-1))
                    act_m = torch.from_numpy(active_b.reshape(n_samples, N)[idx].reshape(-1))
                    old = torch.from_numpy(logp_b.reshape(n_samples, N)[idx].reshape(-1))
                    ad = torch.from_numpy(adv.reshape(n_samples, N)[idx].reshape(-1))
                    rt = torch.from_numpy(returns.reshape(n_samples, N)[idx].reshape(-1))
                    logp, ent, v = evaluate(net, batch, sl, al, ls)
                    pg_loss, ent_loss, kl, clipfrac = ppo_loss(logp, old, ad, ent, act_m, cfg.clip)
                    vf_loss = 0.5 * ((v - vnorm.normalize(rt)) ** 2).mean()
                    if warming_critic:
                        loss = cfg.vf_coef * vf_loss
                    else:
                        loss = pg_loss - cfg.ent_coef * ent_loss + cfg.vf_coef * vf_loss
                    optimizer.zero_grad()
                    loss.backward()
                    if warming_critic:  # Adam skips parameters without a gradient
                        for p in actor_params:
                            p.grad = None
                    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
                    optimizer.step()
                    stats["kl"].append(kl)
                    stats["clip"].append(clipfrac)
                    stats["pg"].append(pg_loss.item())
                    stats["vf"].append(vf_loss.item())
                    stats["ent"].append(ent_loss.item())
            prog["update"] += 1

            # ---------------------------------------------------------------- log, eval, save
            net.eval()
            if cfg.eval_every and prog["update"] % cfg.eval_every == 0:
                prog["eval_jct"] = policy_mean_jct(
                    net, cfg, cfg.eval_seeds, greedy=greedy, max_timesteps=cfg.eval_max_timesteps
                )
                if prog["eval_jct"] < prog.get("best_eval_jct", math.inf):
                    prog["best_eval_jct"] = prog["eval_jct"]
                    prog["best_update"] = prog["update"]
                    save_checkpoint(out / "best.pt", net, vnorm, cfg, None, prog, None, None)
            eps = vec.finished
            vec.finished = []
            prog["wall_s"] = wall0 + elapsed()
            row = {
                "update": prog["update"],
                "steps": prog["steps"],
                "decisions": prog["decisions"],
                "wall_s": round(prog["wall_s"], 2),
                "steps_per_s": round((prog["steps"] - start_steps) / max(elapsed(), 1e-9), 1),
                "lr": lr,
                "policy_loss": float(np.mean(stats["pg"])),
                "value_loss": float(np.mean(stats["vf"])),
                "entropy": float(np.mean(stats["ent"])),
                "approx_kl": float(np.mean(stats["kl"])),
                "clipfrac": float(np.mean(stats["clip"])),
                "episodes": len(eps),
                "train_jct": float(np.mean([e["mean_jct"] for e in eps])) if eps else float("nan"),
                "eval_jct": prog["eval_jct"],
            }
            logger.log(row)
            bar.update(T * E if total else 0)
            bar.set_postfix(
                steps_s=row["steps_per_s"],
                eval_jct=f"{prog['eval_jct']:.2f}",
                train_jct=f"{row['train_jct']:.2f}",
            )
            if prog["update"] % cfg.checkpoint_every == 0:
                save_checkpoint(ckpt_path, net, vnorm, cfg, optimizer, prog, np_rng, gen)
    except KeyboardInterrupt:  # a stop signal: keep what was learned, resumable
        prog["wall_s"] = wall0 + elapsed()
        save_checkpoint(ckpt_path, net, vnorm, cfg, optimizer, prog, np_rng, gen)
        raise
    finally:
        bar.close()
    save_checkpoint(ckpt_path, net, vnorm, cfg, optimizer, prog, np_rng, gen)
    return ckpt_path


def warm_start(
    net: TapFingerNet,
    vnorm: ValueNorm,
    cfg: TrainConfig,
    out: Path,
    np_rng: np.random.Generator,
    progress_bar: bool | None,
) -> dict[str, Any]:
    """Behaviour cloning of ``cfg.warm_start`` before PPO (see :mod:`.warmstart`): teacher
    episodes on training-range seeds, ``warm_epochs`` passes, losses to ``out/warmstart.csv``;
    returns what goes into the run's progress record (the cloned policy's evaluation JCT on
    the held-out seeds, beside the teacher's on the same seeds, and the time it took)."""
    from edgesched.placement.run import simulate
    from edgesched.placement.scenario import with_overrides
    from edgesched.rl.tapfinger.warmstart import clone, collect

    assert cfg.warm_start is not None
    t0 = time.perf_counter()
    seeds = [int(s) for s in np_rng.integers(TRAIN_SEED_BASE, 2**31 - 1, size=cfg.warm_episodes)]
    demo = collect(
        cfg.warm_start,
        cfg.scenario,
        seeds,
        tasks=cfg.tasks,
        mode=cfg.mode,
        progress_bar=progress_bar,
        reward=cfg.reward,
    )
    rows = clone(
        net,
        vnorm,
        demo,
        epochs=cfg.warm_epochs,
        lr=cfg.warm_lr,
        vf_coef=cfg.vf_coef,
        max_grad_norm=cfg.max_grad_norm,
        rng=np_rng,
        progress_bar=progress_bar,
    )
    with (out / "warmstart.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    sc, source = with_overrides(cfg.scenario, cfg.tasks, cfg.mode, None)
    teacher_jct = float(
        np.mean(
            [
                np.mean(simulate(sc, cfg.warm_start, s, source=source, record=False).jcts)
                for s in cfg.eval_seeds
            ]
        )
    )
    cloned = policy_mean_jct(
        net,
        cfg,
        cfg.eval_seeds,
        greedy=cfg.decoding == "greedy",
        max_timesteps=cfg.eval_max_timesteps,
    )
    return {
        "warm_start_rounds": len(demo),
        "warm_start_teacher_train_jct": float(np.mean(demo.mean_jct)),
        "warm_start_teacher_eval_jct": teacher_jct,
        "warm_start_eval_jct": cloned,
        "warm_start_nll": rows[-1]["nll"],
        "warm_start_s": round(time.perf_counter() - t0, 1),
    }


#: The longest training budget accepted (seconds): seven days.
MAX_BUDGET_S = 7 * 24 * 3600.0


def parse_budget(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m`` or ``1.5h``.

    Raises:
        ConfigError: anything else, or a budget that is not positive, finite and at most
            :data:`MAX_BUDGET_S`.

    Example:
        >>> parse_budget("30m"), parse_budget("90"), parse_budget("1.5h")
        (1800.0, 90.0, 5400.0)
    """
    from edgesched.core.errors import ConfigError

    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    scale = units.get(t[-1:])
    number = t[:-1] if scale is not None else t
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise ConfigError(
            f"--budget {text}: expected seconds or a duration such as 90s, 30m or 1.5h."
        ) from None
    if not (math.isfinite(value) and 0 < value <= MAX_BUDGET_S):
        raise ConfigError(
            f"--budget {text}: expected a positive duration of at most "
            f"{MAX_BUDGET_S / 86400:g} days ({MAX_BUDGET_S:g} s)."
        )
    return value


def train_tapfinger(
    scenario: str,
    *,
    out: Path,
    seed: int = 0,
    steps: int | None = None,
    log: Any = print,
    budget: str | None = None,
    resume: Path | None = None,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """`edgesched train tapfinger`: train for ``budget`` (default 30 minutes unless ``steps``)
    into ``out``, which receives checkpoints while training goes so that an interrupted run
    can be continued with ``resume`` (the checkpoint's configuration is kept; ``fields``
    other than the budget must then match it). ``fields`` are :class:`TrainConfig` fields.
    ``executor="ray"`` steps the worlds in ``workers`` Ray actors (on the cluster at
    ``address``, else a local one): :mod:`edgesched.rl.tapfinger.ray_worlds`.

    Returns what ``training.json`` records.

    Raises:
        ConfigError: an unknown field, a bad value, or a resume that does not match.
    """
    from edgesched.core.errors import ConfigError
    from edgesched.placement.scenario import load_scenario
    from edgesched.rl.ray_vec import check_workers
    from edgesched.rl.tapfinger.network import VARIANTS

    sc, _ = load_scenario(scenario)
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps {steps}: expected a whole number >= 1.")
    if seed < 0:
        raise ConfigError(f"--seed {seed}: expected a whole number >= 0.")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"tapfinger: unknown training option(s) {', '.join(unknown)}.")
    budget_s = parse_budget(budget) if budget is not None else None
    if steps is None and budget_s is None:
        budget_s = 30 * 60.0
    variant = fields.get("variant")
    if resume is not None:
        if not resume.is_file():
            raise ConfigError(f"--resume {resume}: no such file.")
        saved = load_checkpoint(resume)["train_config"]
        try:
            cfg = dataclasses.replace(
                TrainConfig(**{k: v for k, v in saved.items() if k in known}),
                steps=steps,
                budget_s=budget_s,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"--resume {resume}: field train_config: {exc}.") from None
        if not isinstance(cfg.scenario, str) or not isinstance(cfg.variant, str):
            raise ConfigError(f"--resume {resume}: field train_config: scenario/variant not text.")
        if variant is not None and variant != cfg.variant:
            raise ConfigError(f"--variant {variant}: {resume} holds a {cfg.variant!r} network.")
        if Path(scenario).stem != Path(cfg.scenario).stem:
            raise ConfigError(f"{scenario}: {resume} was trained on {cfg.scenario!r}.")
    else:
        if fields.get("warm_start") is not None:
            from edgesched.rl.tapfinger.warmstart import teacher

            teacher(fields["warm_start"])  # a ConfigError for an unknown or elastic one
        if int(fields.get("critic_warmup", 0)) < 0:
            raise ConfigError(
                f"--critic-warmup {fields['critic_warmup']}: expected 0 or more PPO updates."
            )
        if fields.get("reward", "local") not in ("local", "team"):
            raise ConfigError(f"--reward {fields['reward']}: expected local or team.")
        if fields.get("decoding", "sample") not in ("sample", "greedy"):
            raise ConfigError(f"--decoding {fields['decoding']}: expected sample or greedy.")
        if variant is not None and variant not in VARIANTS:
            raise ConfigError(f"--variant {variant}: expected one of {', '.join(VARIANTS)}.")
        cfg = TrainConfig(
            **{**fields, "scenario": scenario, "seed": seed, "steps": steps, "budget_s": budget_s}
        )
    n_workers = check_workers(executor, workers, cfg.num_envs)
    log(f"training tapfinger ({cfg.variant}) on {sc.name} into {out}/")
    start = time.perf_counter()
    if n_workers is not None:
        from edgesched.rl.tapfinger.ray_worlds import RayRollouts

        rollouts = RayRollouts(n_workers, address)
        try:
            path = train(cfg, out, resume=resume, worlds=rollouts.worlds)
        finally:
            rollouts.close()
    else:
        path = train(cfg, out, resume=resume)
    record = {
        "agent": "tapfinger",
        "scenario": sc.name,
        "variant": cfg.variant,
        "checkpoint": str(path),
        "wall_s": round(time.perf_counter() - start, 1),
        "progress": load_checkpoint(path)["progress"],
        "config": dataclasses.asdict(cfg),
    }
    if n_workers is not None:
        record["rollouts"] = {"executor": "ray", "workers": n_workers}
    return record
