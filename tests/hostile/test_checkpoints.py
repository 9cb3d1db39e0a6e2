"""Hostile checkpoints: a pickle whose ``__reduce__`` would create a marker file, planted in
every checkpoint format edgesched accepts (a Stable-Baselines3 zip's ``data`` member, its
``policy.pth``, the data-only ``edgesched.json`` zip, a TapFinger ``.pt``), plus malformed
files; run through ``compare --checkpoint``, ``evaluate`` and ``train tapfinger --resume``.
Each must be refused with exit 2 and no payload executed."""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch


class Payload:
    """Unpickling this creates ``marker`` (``open(marker, "w")``)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps({"weights": Payload(marker)})


def evil_torch(marker: Path, **extra: Any) -> bytes:
    buf = io.BytesIO()
    torch.save({"format": "edgesched-tapfinger-1", **extra, "x": Payload(marker)}, buf)
    return buf.getvalue()


def test_the_payload_is_live(marker: Path) -> None:
    """The planted payload does create the marker when unpickled (so the cases can fail)."""
    pickle.loads(evil_pickle(marker))
    assert marker.exists()


def sb3_data(marker: Path, shape: int, actions: int) -> bytes:
    blob = base64.b64encode(pickle.dumps(Payload(marker))).decode()
    evil = {":type:": "<class 'abc.ABCMeta'>", ":serialized:": blob}
    return json.dumps(
        {
            "policy_class": evil,
            "policy_kwargs": {"net_arch": [64, 64]},
            "observation_space": {**evil, "_shape": [shape]},
            "action_space": {**evil, "n": str(actions)},
            "lr_schedule": evil,
        }
    ).encode()


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def good_weights(agent: str) -> bytes:
    from edgesched.rl import sb3

    shipped = {"aset": "aset-full-edge-abundant", "ecsrl": "ecsrl-17k-legacy"}
    path = sb3.checkpoint_dir(agent) / shipped[agent]
    with zipfile.ZipFile(path.with_suffix(".zip")) as zf:
        return zf.read("policy.pth")


META = {
    "aset": {"algorithm": "ppo", "observation_shape": [69], "actions": 10},
    "ecsrl": {"algorithm": "maskable-ppo", "observation_shape": [36], "actions": 5},
}


def meta(who: str, **over: Any) -> bytes:
    m = {
        "format": "edgesched-sb3-1",
        "agent": who,
        "net_arch": [64, 64],
        "activation": "tanh",
        **META[who],
        **over,
    }
    return json.dumps(m).encode()


def sb3_cases(agent: str, tmp: Path, marker: Path) -> dict[str, tuple[Path, list[str]]]:
    """Hostile and malformed zips for ``agent``: name -> (file, what the message names)."""
    shape, n = META[agent]["observation_shape"][0], META[agent]["actions"]
    good = good_weights(agent)
    evil = evil_pickle(marker)
    cases = {
        # a plain SB3 zip whose data member pickles the payload everywhere it can
        "sb3-data-payload": (
            {"data": sb3_data(marker, shape, n), "policy.pth": evil},
            ["policy.pth"],
        ),
        "sb3-data-payload-only": ({"data": sb3_data(marker, shape, n)}, ["policy.pth"]),
        "sb3-policy-pth-payload": (
            {"data": sb3_data(marker, shape, n), "policy.pth": evil_torch(marker)},
            ["policy.pth"],
        ),
        "json-policy-pth-payload": (
            {"edgesched.json": meta(agent), "policy.pth": evil},
            ["policy.pth"],
        ),
        "json-torch-payload": (
            {"edgesched.json": meta(agent), "policy.pth": evil_torch(marker)},
            ["policy.pth"],
        ),
        "json-wrong-agent": (
            {"edgesched.json": meta(agent, agent="other"), "policy.pth": good},
            ["agent"],
        ),
        "json-wrong-format": (
            {"edgesched.json": meta(agent, format="x"), "policy.pth": good},
            ["format"],
        ),
        "json-huge-arch": (
            {"edgesched.json": meta(agent, net_arch=[10**9]), "policy.pth": good},
            ["net_arch"],
        ),
        "json-wrong-shape": (
            {"edgesched.json": meta(agent, net_arch=[32, 32]), "policy.pth": good},
            ["policy.pth"],
        ),
        "json-not-json": ({"edgesched.json": b"\xff{", "policy.pth": good}, ["edgesched.json"]),
        "zip-empty": ({}, ["data"]),
        "zip-with-pickle": ({"data.pkl": evil, "archive/data.pkl": evil}, ["data"]),
    }
    out = {}
    for name, (members, names) in cases.items():
        out[name] = (zip_of(tmp / f"{name}.zip", members), names)
    (tmp / "random.zip").write_bytes(bytes(range(256)) * 40)
    out["random-bytes"] = (tmp / "random.zip", ["random.zip"])
    truncated = tmp / "truncated.zip"
    whole = (Path(str(out["json-wrong-agent"][0]))).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    out["truncated"] = (truncated, ["truncated.zip"])
    return out


SB3_NAMES = [
    "sb3-data-payload",
    "sb3-data-payload-only",
    "sb3-policy-pth-payload",
    "json-policy-pth-payload",
    "json-torch-payload",
    "json-wrong-agent",
    "json-wrong-format",
    "json-huge-arch",
    "json-wrong-shape",
    "json-not-json",
    "zip-empty",
    "zip-with-pickle",
    "random-bytes",
    "truncated",
]
# aset: the abundant preset, whose shipped checkpoint observes 69 values (META)
SCENARIO = {"aset": "aset-full-edge-abundant", "ecsrl": "ecsrl-17k"}


@pytest.mark.parametrize("case", SB3_NAMES)
@pytest.mark.parametrize("agent", ["aset", "ecsrl"])
def test_compare_sb3_checkpoint(
    refused: Callable[..., Any], tmp_path: Path, marker: Path, agent: str, case: str
) -> None:
    """compare --checkpoint refuses a hostile or malformed ASET/ECSRL zip, running nothing."""
    path, names = sb3_cases(agent, tmp_path, marker)[case]
    out = tmp_path / "out"
    refused(
        [
            "compare",
            SCENARIO[agent],
            "--schedulers",
            agent,
            "--checkpoint",
            path,
            "--seeds",
            "1",
            "--out",
            out,
        ],
        names=[path.name, *names],
        marker=marker,
        out=out,
    )


@pytest.mark.parametrize("case", ["sb3-data-payload", "json-policy-pth-payload"])
@pytest.mark.parametrize("agent", ["aset", "ecsrl"])
def test_evaluate_sb3_checkpoint(
    refused: Callable[..., Any], tmp_path: Path, marker: Path, agent: str, case: str
) -> None:
    """evaluate refuses a hostile ASET/ECSRL zip with no payload executed."""
    path, names = sb3_cases(agent, tmp_path, marker)[case]
    refused(
        ["evaluate", agent, SCENARIO[agent], "--checkpoint", path, "--seeds", "1"],
        names=[path.name, *names],
        marker=marker,
    )


def tapfinger_cases(tmp: Path, marker: Path) -> dict[str, Path]:
    """Hostile and malformed TapFinger .pt files."""
    from edgesched.rl.tapfinger.checkpoint import load_checkpoint

    shipped = Path(str(__import__("edgesched.rl", fromlist=["x"]).__path__[0]))
    good = shipped / "checkpoints" / "tapfinger" / "synthetic-3.pt"
    ckpt = load_checkpoint(good)
    files: dict[str, bytes] = {
        "torch-payload": evil_torch(marker),
        "raw-pickle": evil_pickle(marker),
        "zip-with-pickle": zip_of(
            tmp / "z.zip", {"archive/data.pkl": evil_pickle(marker)}
        ).read_bytes(),
        "random-bytes": bytes(range(256)) * 40,
        "truncated": good.read_bytes()[: good.stat().st_size // 2],
        "empty": b"",
    }

    def saved(obj: Any) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    files["missing-model"] = saved({k: v for k, v in ckpt.items() if k != "model"})
    files["wrong-keys"] = saved({**ckpt, "model": {"nope": torch.zeros(2)}})
    files["wrong-shapes"] = saved({**ckpt, "model": {k: torch.zeros(3) for k in ckpt["model"]}})
    files["huge-hidden"] = saved({**ckpt, "net_config": {**ckpt["net_config"], "hidden": 10**9}})
    files["not-a-dict"] = saved([1, 2, 3])
    out = {}
    for name, data in files.items():
        path = tmp / f"{name}.pt"
        path.write_bytes(data)
        out[name] = path
    return out


TAPFINGER = [
    "torch-payload",
    "raw-pickle",
    "zip-with-pickle",
    "random-bytes",
    "truncated",
    "empty",
    "missing-model",
    "wrong-keys",
    "wrong-shapes",
    "huge-hidden",
    "not-a-dict",
]


@pytest.mark.parametrize("case", TAPFINGER)
def test_compare_tapfinger_checkpoint(
    refused: Callable[..., Any], tmp_path: Path, marker: Path, case: str
) -> None:
    """compare --checkpoint refuses a hostile or malformed TapFinger .pt."""
    path = tapfinger_cases(tmp_path, marker)[case]
    out = tmp_path / "out"
    refused(
        [
            "compare",
            "synthetic-3",
            "--schedulers",
            "tapfinger",
            "--checkpoint",
            path,
            "--seeds",
            "1",
            "--out",
            out,
        ],
        names=[path.name],
        marker=marker,
        out=out,
    )


@pytest.mark.parametrize("case", ["torch-payload", "raw-pickle", "wrong-shapes"])
def test_evaluate_tapfinger_checkpoint(
    refused: Callable[..., Any], tmp_path: Path, marker: Path, case: str
) -> None:
    """evaluate refuses a hostile TapFinger .pt."""
    path = tapfinger_cases(tmp_path, marker)[case]
    refused(
        ["evaluate", "tapfinger", "synthetic-3", "--checkpoint", path, "--seeds", "1"],
        names=[path.name],
        marker=marker,
    )


@pytest.mark.parametrize("case", ["torch-payload", "raw-pickle", "zip-with-pickle", "wrong-keys"])
def test_train_resume_tapfinger(
    refused: Callable[..., Any], tmp_path: Path, marker: Path, case: str
) -> None:
    """train tapfinger --resume refuses a hostile or malformed checkpoint."""
    path = tapfinger_cases(tmp_path, marker)[case]
    out = tmp_path / "train"
    refused(
        ["train", "tapfinger", "synthetic-3", "--resume", path, "--steps", "10", "--out", out],
        names=[path.name],
        marker=marker,
        out=out,
    )
