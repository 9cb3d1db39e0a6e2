"""The model architectures and their ONNX cache."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgesched.core.errors import ConfigError
from edgesched.live.models import VARIANTS, spec
from edgesched.live.onnx_cache import cache_dir, onnx_path
from edgesched.live.worker import to_input


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_exports_and_runs(variant: str) -> None:
    """Each architecture (tiny) exports to ONNX and runs in ONNX Runtime with its input."""
    s = spec(variant, tiny=True)
    sess = ort.InferenceSession(str(onnx_path(s)), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": np.zeros(s.input_shape, dtype=np.float32)})
    assert out and all(np.isfinite(o).all() for o in out)


def test_export_is_cached_under_the_cache_dir() -> None:
    """A second request for the same spec reuses the file, in the cache folder."""
    s = spec("resnet18", tiny=True)
    first = onnx_path(s)
    mtime = first.stat().st_mtime_ns
    assert onnx_path(s) == first and first.stat().st_mtime_ns == mtime
    assert first.parent == cache_dir()


def test_full_specs_have_the_published_input_sizes() -> None:
    """Classifiers take 224 px, the SSD 300 px, the YOLOs 640 px."""
    assert spec("resnet50").input_hw == 224
    assert spec("ssd_mobilenet_v2").input_hw == 300
    assert spec("yolov5s").input_hw == 640


def test_unknown_variant_is_a_config_error() -> None:
    """A variant without a live architecture names the known ones."""
    with pytest.raises(ConfigError, match="resnet18"):
        spec("alexnet")


def test_payload_is_tiled_over_the_input() -> None:
    """The payload's bytes fill the tensor, scaled to [0, 1]."""
    x = to_input(bytes([0, 255]), (1, 3, 2, 2))
    assert x.shape == (1, 3, 2, 2)
    assert x.reshape(-1).tolist() == [0.0, 1.0] * 6
