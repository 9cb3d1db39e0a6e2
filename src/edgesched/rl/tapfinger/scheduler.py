"""TapFinger as a placement scheduler: a trained network behind the one scheduler interface.

Registered in the placement world's scheduler registry as ``tapfinger`` and built with
``make("tapfinger", checkpoint=PATH)``; :func:`shipped_checkpoint` names the pretrained network
of a preset. Checkpoints hold tensors and plain values only and are read with
``torch.load(..., weights_only=True)``.

Example:
    >>> shipped_checkpoint("synthetic-3").name
    'synthetic-3.pt'
    >>> shipped_checkpoint("synthetic-6") is None
    True
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edgesched.core.errors import ConfigError
from edgesched.placement.observation import Layout
from edgesched.placement.schedulers.base import PlacementScheduler
from edgesched.placement.sim import Decision
from edgesched.rl.tapfinger.checkpoint import build_net, load_checkpoint
from edgesched.rl.tapfinger.fast import FastActor
from edgesched.rl.tapfinger.graph import build_graph, collate
from edgesched.rl.tapfinger.network import act

if TYPE_CHECKING:
    from edgesched.placement.scenario import PlacementScenario
    from edgesched.placement.sim import PlacementSim

NAME = "tapfinger"


#: The shipped network of each preset (file in ``checkpoints/tapfinger/``, model card beside it as
#: ``{preset}.md``): behaviour-cloned from optimus-np, then PPO (``--warm-start optimus-np``).
SHIPPED = {"synthetic-3": "synthetic-3.pt", "hetero-6": "hetero-6.pt", "testbed-3": "testbed-3.pt"}


def shipped_checkpoint(scenario_name: str) -> Path | None:
    """The pretrained checkpoint shipped for a preset, or None when there is none."""
    file = SHIPPED.get(scenario_name)
    if file is None:
        return None
    path = Path(str(resources.files("edgesched.rl") / "checkpoints" / NAME / file))
    return path if path.is_file() else None


class TapFingerScheduler(PlacementScheduler):
    """Each round, every cluster with a feasible pending task asks the network for a slot (or
    skip) and an allocation; the task-choice probability goes to the world's Bayes rule.

    Args:
        checkpoint: the checkpoint file.
        greedy: take the most likely action instead of sampling one; None (the default):
            what the checkpoint was trained to be evaluated with (``train_config.decoding``,
            ``sample`` for checkpoints that do not say). Sampling draws from a generator
            seeded by the run's policy stream, so a run stays a pure function of its seed.
        threads: torch CPU threads while deciding (None: leave as it is).
        fast: decide through the fused dense actor (:mod:`~edgesched.rl.tapfinger.fast`),
            which reads the same weights and draws the same samples as the reference PyG
            network (False: the reference network).
        onnx: run that actor's deterministic part in ONNX Runtime
            (:mod:`~edgesched.rl.tapfinger.onnx_actor`; HAN variants; exported once per
            checkpoint into an on-disk cache, tens of seconds the first time).
    """

    name = NAME

    def __init__(
        self,
        checkpoint: Path | str,
        greedy: bool | None = None,
        threads: int | None = 1,
        fast: bool = True,
        onnx: bool = False,
    ) -> None:
        path = Path(checkpoint)
        if not path.is_file():
            raise ConfigError(f"--checkpoint {path}: no such file.")
        self.checkpoint: Path | None = path
        self._setup(load_checkpoint(path), greedy, threads, fast, onnx)

    @classmethod
    def from_contents(
        cls,
        contents: dict[str, Any],
        greedy: bool | None = None,
        threads: int | None = 1,
        fast: bool = True,
        onnx: bool = False,
    ) -> TapFingerScheduler:
        """A scheduler from a checkpoint's contents already in memory (``net_config``,
        ``model``, ``value_norm``)."""
        self = cls.__new__(cls)
        self.checkpoint = None
        self._setup(contents, greedy, threads, fast, onnx)
        return self

    def _setup(
        self,
        contents: dict[str, Any],
        greedy: bool | None,
        threads: int | None,
        fast: bool,
        onnx: bool = False,
    ) -> None:
        self.net, _ = build_net(contents)
        self.fast: FastActor | None = None
        if onnx:
            from edgesched.rl.tapfinger.onnx_actor import OnnxActor

            self.fast = OnnxActor(self.net)
        elif fast:
            self.fast = FastActor(self.net)
        if greedy is None:
            greedy = contents.get("train_config", {}).get("decoding", "sample") == "greedy"
        self.greedy = greedy
        self.threads = threads
        self.lay: Layout | None = None
        self.gen = torch.Generator()

    def check(self, scenario: PlacementScenario) -> None:
        """Raise ConfigError when the network does not fit the scenario's feature sizes."""
        lay = Layout(scenario)
        cfg = self.net.cfg
        if list(lay.grid) != cfg.grid or (lay.cluster_dim, lay.pending_dim) != (
            cfg.cluster_dim,
            cfg.pending_dim,
        ):
            raise ConfigError(
                f"the TapFinger checkpoint was trained for allocation grid {cfg.grid} and "
                f"{cfg.pending_dim - len(cfg.grid) - 1} task type(s); scenario "
                f"{scenario.name!r} has grid {[int(a) for a in lay.grid]} and {lay.T}."
            )

    def reset(self, sim: PlacementSim, rng: np.random.Generator) -> None:
        super().reset(sim, rng)
        self.check(sim.scenario)
        self.lay = Layout(sim.scenario)
        self.gen.manual_seed(int(rng.integers(2**63 - 1)))
        if self.threads is not None:
            torch.set_num_threads(self.threads)

    def get_state(self) -> dict[str, Any]:
        """The sampling generator's state (base64 of torch's state bytes)."""
        raw = self.gen.get_state().numpy().tobytes()
        return {"torch_generator": base64.b64encode(raw).decode("ascii")}

    def set_state(self, state: dict[str, Any]) -> None:
        raw = base64.b64decode(state["torch_generator"])
        self.gen.set_state(torch.from_numpy(np.frombuffer(raw, dtype=np.uint8).copy()))

    def decide(self, sim: PlacementSim) -> Sequence[Decision | None]:
        lay = self.lay
        assert lay is not None, "reset() first"
        g = build_graph(sim, lay)
        if not g.can_decide.any():
            return [None] * lay.N
        if self.fast is not None:
            f = self.fast.act(g, generator=self.gen, greedy=self.greedy)
            slots, allocs, probs = f.slot, f.alloc, f.p_task
        else:
            a = act(self.net, collate([g]), generator=self.gen, greedy=self.greedy)
            slots = a.slot.tolist()
            allocs = a.alloc.tolist()
            probs = a.logp_task.exp().tolist()
        out: list[Decision | None] = []
        for n in range(lay.N):
            s = slots[n]
            if s >= lay.K or not g.slot_ok[n, s]:
                out.append(None)
            else:
                out.append(Decision(int(g.slot_task[n, s]), tuple(allocs[n]), probs[n]))
        return out
