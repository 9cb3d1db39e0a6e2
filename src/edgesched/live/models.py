"""Real model architectures, built in code with random weights, for the live workers.

Each variant of the live runtime is a real network (the same layer structure as the published
model it is named after) whose weights are drawn at random: the compute is real, the answers are
meaningless, and no weights are ever downloaded. The classifiers take a ``3 x 224 x 224`` image,
the SSD-style detector ``3 x 300 x 300`` and the YOLO-style detectors ``3 x 640 x 640`` unless a
:class:`ModelSpec` says otherwise (tests use tiny inputs and widths).

=====================  ==========================================================  ===========
variant                architecture                                                input
=====================  ==========================================================  ===========
``noop``               the mean of the input (measures everything but the model)  3 x 8 x 8
``mobilenet_v2``       MobileNetV2: inverted residual blocks, width 1.0             3 x 224
``resnet18``           ResNet-18: basic blocks [2, 2, 2, 2]                        3 x 224
``resnet50``           ResNet-50: bottleneck blocks [3, 4, 6, 3]                   3 x 224
``resnet152``          ResNet-152: bottleneck blocks [3, 8, 36, 3]                 3 x 224
``ssd_mobilenet_v2``   SSD-lite heads on a MobileNetV2 backbone, 6 feature maps    3 x 300
``yolov5n/s/m/x``      YOLOv5-style CSP backbone, SPPF, PAN neck, 3-scale head     3 x 640
=====================  ==========================================================  ===========

Torch is imported only to build and export a network (:mod:`edgesched.live.onnx_cache`); the
workers run the exported ONNX graph with ONNX Runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgesched.core.errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """One exportable network: its architecture, input size and width multiplier.

    Attributes:
        variant: the variant name (the dispatch world's catalogue name, or ``noop``).
        arch: ``noop``, ``mobilenet_v2``, ``resnet_basic``, ``resnet_bottleneck``, ``ssd``,
            ``yolo``.
        input_hw: input height = width in pixels.
        width: channel multiplier (1.0: the published widths).
        depth: ResNet block counts, or the YOLO depth multiple as ``(round(100 x d),)``.
        classes: output classes.
    """

    variant: str
    arch: str
    input_hw: int
    width: float = 1.0
    depth: tuple[int, ...] = ()
    classes: int = 1000

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (1, 3, self.input_hw, self.input_hw)

    @property
    def task(self) -> str:
        return "detection" if self.arch in ("ssd", "yolo") else "classification"

    def key(self) -> str:
        """A file-name-safe identity of the exported graph."""
        depth = "-".join(str(d) for d in self.depth) or "0"
        return (
            f"{self.variant}__{self.arch}_{self.input_hw}_w{self.width:g}_d{depth}_c{self.classes}"
        )

    def tiny(self) -> ModelSpec:
        """The same architecture at a tiny input and width (for tests: milliseconds a call)."""
        hw = 8 if self.arch == "noop" else (64 if self.arch in ("ssd", "yolo") else 32)
        depth = self.depth
        if self.arch.startswith("resnet"):
            depth = tuple(min(d, 2) for d in depth)
        return ModelSpec(
            self.variant, self.arch, hw, 0.25 if self.arch != "noop" else 1.0, depth, 10
        )


VARIANTS: dict[str, ModelSpec] = {
    "noop": ModelSpec("noop", "noop", 8, classes=1),
    "mobilenet_v2": ModelSpec("mobilenet_v2", "mobilenet_v2", 224),
    "resnet18": ModelSpec("resnet18", "resnet_basic", 224, depth=(2, 2, 2, 2)),
    "resnet50": ModelSpec("resnet50", "resnet_bottleneck", 224, depth=(3, 4, 6, 3)),
    "resnet152": ModelSpec("resnet152", "resnet_bottleneck", 224, depth=(3, 8, 36, 3)),
    "ssd_mobilenet_v2": ModelSpec("ssd_mobilenet_v2", "ssd", 300, classes=91),
    "yolov5n": ModelSpec("yolov5n", "yolo", 640, width=0.25, depth=(33,), classes=80),
    "yolov5s": ModelSpec("yolov5s", "yolo", 640, width=0.5, depth=(33,), classes=80),
    "yolov5m": ModelSpec("yolov5m", "yolo", 640, width=0.75, depth=(67,), classes=80),
    "yolov5x": ModelSpec("yolov5x", "yolo", 640, width=1.25, depth=(133,), classes=80),
}


def spec(variant: str, *, tiny: bool = False) -> ModelSpec:
    """The spec of a variant (``tiny``: its test-sized version).

    Raises:
        ConfigError: a variant this runtime has no architecture for.
    """
    if variant not in VARIANTS:
        raise ConfigError(
            f"model variant {variant!r} has no live architecture; known: {', '.join(VARIANTS)}."
        )
    s = VARIANTS[variant]
    return s.tiny() if tiny else s


# ----------------------------------------------------------------------------- torch networks


def build(s: ModelSpec) -> Any:
    """The torch module of a spec, in eval mode, with seeded random weights."""
    import torch

    torch.manual_seed(0)
    builders = {
        "noop": _noop,
        "mobilenet_v2": _mobilenet_classifier,
        "resnet_basic": _resnet,
        "resnet_bottleneck": _resnet,
        "ssd": _ssd,
        "yolo": _yolo,
    }
    return builders[s.arch](s).eval()


def _ch(c: float, width: float, div: int = 8) -> int:
    """Channels scaled by ``width``, rounded to a multiple of ``div`` (at least ``div``)."""
    return max(div, int(c * width + div / 2) // div * div)


def _noop(s: ModelSpec) -> Any:
    import torch

    class Noop(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))[:, :1]

    return Noop()


def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1, act: Any = None) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        act if act is not None else nn.ReLU6(inplace=True),
    )


def _mobilenet_features(width: float) -> tuple[Any, list[int]]:
    """MobileNetV2's feature extractor and the indices/channels of its stages."""
    import torch
    import torch.nn as nn

    class InvertedResidual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers: list[nn.Module] = []
            if expand != 1:
                layers.append(_conv_bn(cin, hidden, 1, 1))
            layers += [
                _conv_bn(hidden, hidden, 3, stride, groups=hidden),
                nn.Conv2d(hidden, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
            ]
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            return x + y if self.residual else y

    # (expansion, channels, repeats, stride) of the published network
    table = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    cin = _ch(32, width)
    layers: list[nn.Module] = [_conv_bn(3, cin, 3, 2)]
    for t, c, n, st in table:
        cout = _ch(c, width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, st if i == 0 else 1, t))
            cin = cout
    last = _ch(1280, max(width, 1.0))
    layers.append(_conv_bn(cin, last, 1, 1))
    return nn.Sequential(*layers), [cin, last]


def _mobilenet_classifier(s: ModelSpec) -> Any:
    import torch.nn as nn

    features, (_, last) = _mobilenet_features(s.width)
    return nn.Sequential(
        features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(last, s.classes)
    )


def _resnet(s: ModelSpec) -> Any:
    import torch
    import torch.nn as nn

    bottleneck = s.arch == "resnet_bottleneck"
    expansion = 4 if bottleneck else 1

    class Block(nn.Module):
        def __init__(self, cin: int, planes: int, stride: int) -> None:
            super().__init__()
            cout = planes * expansion
            if bottleneck:
                self.body = nn.Sequential(
                    nn.Conv2d(cin, planes, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(True),
                    nn.Conv2d(planes, planes, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(True),
                    nn.Conv2d(planes, cout, 1, bias=False),
                    nn.BatchNorm2d(cout),
                )
            else:
                self.body = nn.Sequential(
                    nn.Conv2d(cin, planes, 3, stride, 1, bias=False),
                    nn.BatchNorm2d(planes),
                    nn.ReLU(True),
                    nn.Conv2d(planes, planes, 3, 1, 1, bias=False),
                    nn.BatchNorm2d(planes),
                )
            self.skip: nn.Module = nn.Identity()
            if stride != 1 or cin != cout:
                self.skip = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )
            self.act = nn.ReLU(True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.body(x) + self.skip(x))

    base = _ch(64, s.width)
    layers: list[nn.Module] = [
        nn.Conv2d(3, base, 7, 2, 3, bias=False),
        nn.BatchNorm2d(base),
        nn.ReLU(True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = base
    for stage, n in enumerate(s.depth):
        planes = base * 2**stage
        for i in range(n):
            layers.append(Block(cin, planes, 2 if i == 0 and stage > 0 else 1))
            cin = planes * expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, s.classes)]
    return nn.Sequential(*layers)


def _ssd(s: ModelSpec) -> Any:
    """SSD-lite: MobileNetV2 features at strides 16 and 32, four extra stride-2 maps, and
    depthwise-separable class and box heads on each of the six maps."""
    import torch
    import torch.nn as nn

    features, (mid, last) = _mobilenet_features(s.width)
    # split the backbone after the stride-16 stage (the 96-channel blocks)
    c16 = _ch(96, s.width)
    split = (
        next(
            i
            for i, m in enumerate(features)
            if getattr(m, "body", None) is not None
            and m.body[-1].num_features == c16
            and not getattr(features[i + 1], "residual", True)
        )
        + 1
    )
    head_a, head_b = features[:split], features[split:]

    def extra(cin: int, cout: int) -> nn.Module:
        mid_c = max(cout // 2, 8)
        return nn.Sequential(
            _conv_bn(cin, mid_c, 1, 1),
            _conv_bn(mid_c, mid_c, 3, 2, groups=mid_c),
            _conv_bn(mid_c, cout, 1, 1),
        )

    extras_c = [_ch(c, s.width) for c in (512, 256, 256, 128)]
    chans = [c16, last, *extras_c]
    anchors = 6
    classes = s.classes

    def sep_head(cin: int, cout: int) -> nn.Module:
        return nn.Sequential(_conv_bn(cin, cin, 3, 1, groups=cin), nn.Conv2d(cin, cout, 1))

    class SSDLite(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = head_a, head_b
            ins = [last, *extras_c[:-1]]
            self.extras = nn.ModuleList(extra(i, o) for i, o in zip(ins, extras_c, strict=True))
            self.cls = nn.ModuleList(sep_head(c, anchors * classes) for c in chans)
            self.box = nn.ModuleList(sep_head(c, anchors * 4) for c in chans)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            maps = [self.a(x)]
            maps.append(self.b(maps[0]))
            for e in self.extras:
                maps.append(e(maps[-1]))
            scores = [c(m).flatten(2) for c, m in zip(self.cls, maps, strict=True)]
            boxes = [b(m).flatten(2) for b, m in zip(self.box, maps, strict=True)]
            n = x.shape[0]
            score = torch.cat([t.reshape(n, classes, -1) for t in scores], 2)
            box = torch.cat([t.reshape(n, 4, -1) for t in boxes], 2)
            return score.sigmoid(), box

    del mid
    return SSDLite()


def _yolo(s: ModelSpec) -> Any:
    """YOLOv5-style: Conv-BN-SiLU, C3 (CSP) blocks, SPPF, a PAN neck, a 3-scale head."""
    import torch
    import torch.nn as nn

    d = s.depth[0] / 100.0 if s.depth else 0.33

    def conv(cin: int, cout: int, k: int = 1, st: int = 1) -> nn.Module:
        return _conv_bn(cin, cout, k, st, act=nn.SiLU(inplace=True))

    class Bottleneck(nn.Module):
        def __init__(self, c: int, shortcut: bool) -> None:
            super().__init__()
            self.body = nn.Sequential(conv(c, c, 1), conv(c, c, 3))
            self.shortcut = shortcut

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.body(x)
            return x + y if self.shortcut else y

    class C3(nn.Module):
        def __init__(self, cin: int, cout: int, n: int, shortcut: bool = True) -> None:
            super().__init__()
            h = cout // 2
            self.a, self.b = conv(cin, h), conv(cin, h)
            self.m = nn.Sequential(*(Bottleneck(h, shortcut) for _ in range(n)))
            self.out = conv(2 * h, cout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.cat([self.m(self.a(x)), self.b(x)], 1))

    class SPPF(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.a, self.out = conv(c, c // 2), conv(c * 2, c)
            self.pool = nn.MaxPool2d(5, 1, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.a(x)
            y1 = self.pool(x)
            y2 = self.pool(y1)
            return self.out(torch.cat([x, y1, y2, self.pool(y2)], 1))

    def n(k: int) -> int:
        return max(round(k * d), 1)

    c = [_ch(x, s.width) for x in (64, 128, 256, 512, 1024)]
    no = 3 * (5 + s.classes)

    class Yolo(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv(3, c[0], 6, 2)
            self.s2 = nn.Sequential(conv(c[0], c[1], 3, 2), C3(c[1], c[1], n(3)))
            self.s3 = nn.Sequential(conv(c[1], c[2], 3, 2), C3(c[2], c[2], n(6)))
            self.s4 = nn.Sequential(conv(c[2], c[3], 3, 2), C3(c[3], c[3], n(9)))
            self.s5 = nn.Sequential(conv(c[3], c[4], 3, 2), C3(c[4], c[4], n(3)), SPPF(c[4]))
            self.lat5, self.up = conv(c[4], c[3]), nn.Upsample(scale_factor=2.0)
            self.td4 = C3(2 * c[3], c[3], n(3), False)
            self.lat4 = conv(c[3], c[2])
            self.td3 = C3(2 * c[2], c[2], n(3), False)
            self.dn3 = conv(c[2], c[2], 3, 2)
            self.bu4 = C3(2 * c[2], c[3], n(3), False)
            self.dn4 = conv(c[3], c[3], 3, 2)
            self.bu5 = C3(2 * c[3], c[4], n(3), False)
            self.heads = nn.ModuleList(nn.Conv2d(ch, no, 1) for ch in (c[2], c[3], c[4]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            p3 = self.s3(self.s2(self.stem(x)))
            p4 = self.s4(p3)
            p5 = self.s5(p4)
            l5 = self.lat5(p5)
            t4 = self.td4(torch.cat([self.up(l5), p4], 1))
            l4 = self.lat4(t4)
            t3 = self.td3(torch.cat([self.up(l4), p3], 1))
            b4 = self.bu4(torch.cat([self.dn3(t3), l4], 1))
            b5 = self.bu5(torch.cat([self.dn4(b4), l5], 1))
            outs = [h(t).flatten(2) for h, t in zip(self.heads, (t3, b4, b5), strict=True)]
            return torch.cat(outs, 2).sigmoid()

    return Yolo()
