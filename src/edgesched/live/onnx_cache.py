"""Export the live variants to ONNX once and keep them in an on-disk cache.

The cache folder is ``$EDGESCHED_MODEL_CACHE`` when set, else ``~/.cache/edgesched/models``.
A file is named by the spec's :meth:`~edgesched.live.models.ModelSpec.key` and written to a
temporary name first, then renamed, so concurrent exporters (two workers starting together)
never see a half-written graph. Nothing in the cache is ever committed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path

from edgesched.live.models import ModelSpec, build

ENV_VAR = "EDGESCHED_MODEL_CACHE"
OPSET = 17


def cache_dir() -> Path:
    """The model cache folder (created if missing)."""
    root = os.environ.get(ENV_VAR)
    path = Path(root) if root else Path.home() / ".cache" / "edgesched" / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def onnx_path(spec: ModelSpec) -> Path:
    """The ONNX file of a spec, exported now if it is not cached yet."""
    path = cache_dir() / f"{spec.key()}.onnx"
    if path.exists():
        return path
    import torch

    model = build(spec)
    x = torch.zeros(*spec.input_shape)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.variant}-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        # the TorchScript exporter: the graphs are static and it needs no extra packages
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (x,),
                tmp,
                input_names=["input"],
                opset_version=OPSET,
                dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path
