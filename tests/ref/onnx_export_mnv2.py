#!/usr/bin/python3
"""Independent ONNX reference models for mnv2's ONNX loader tests.

Builds TF-slim MobileNetV2 (channel rounding, expansion 6, linear bottlenecks, residuals,
ReLU6, TF "SAME" padding as an explicit ZeroPad2d before stride-2 convs on even inputs,
BatchNorm with random non-trivial statistics) in PyTorch, exports it with
torch.onnx.export and writes, per model, <name>.onnx, <name>.input.bin (float32 NCHW),
<name>.torch.bin (float32 outputs) and a line in manifest.txt:
    name batch channels height width outputs softmax(0/1)
Usage: onnx_export_mnv2.py OUT_DIR
"""
import math
import os
import sys

import torch
from torch import nn


def make_divisible(v, divisor=8, min_value=8):
    r = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if r < 0.9 * v:
        r += divisor
    return r


def same_pads(size, k, s):
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv + BatchNorm (+ ReLU6), padded like TF SAME for the given input size."""

    def __init__(self, cin, cout, k, s, size, groups=1, relu6=True):
        super().__init__()
        out, before, after = same_pads(size, k, s)
        self.out_size = out
        layers = []
        if before == after:
            pad = before
        else:  # TF SAME on even inputs at stride 2: 0 before, 1 after
            layers.append(nn.ZeroPad2d((before, after, before, after)))
            pad = 0
        layers.append(nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False))
        layers.append(nn.BatchNorm2d(cout, eps=1e-3))
        if relu6:
            layers.append(nn.ReLU6())
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, t, size):
        super().__init__()
        layers = []
        mid = cin
        if t != 1:
            mid = make_divisible(cin * t)
            layers.append(ConvBN(cin, mid, 1, 1, size))
        dw = ConvBN(mid, mid, 3, stride, size, groups=mid)
        layers.append(dw)
        layers.append(ConvBN(mid, cout, 1, 1, dw.out_size, relu6=False))
        self.out_size = dw.out_size
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, width, res, classes, head):
        super().__init__()
        d = lambda c: make_divisible(c * width)
        stem = ConvBN(3, d(32), 3, 2, res)
        size = stem.out_size
        layers = [stem]
        b = Block(d(32), d(16), 1, 1, size)
        layers.append(b)
        cin = d(16)
        for c, n, s in [(24, 2, 2), (32, 3, 2), (64, 4, 2), (96, 3, 1), (160, 3, 2), (320, 1, 1)]:
            for i in range(n):
                b = Block(cin, d(c), s if i == 0 else 1, 6, size)
                size = b.out_size
                layers.append(b)
                cin = d(c)
        last = d(1280) if width > 1 else 1280
        layers.append(ConvBN(cin, last, 1, 1, size))
        self.features = nn.Sequential(*layers)
        self.head = head
        if head == "conv":  # TF-slim: avg pool, 1x1 conv logits, squeeze, softmax
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.logits = nn.Conv2d(last, classes, 1, bias=True)
        else:  # torchvision style: mean, Linear (Gemm), logits only
            self.logits = nn.Linear(last, classes)

    def forward(self, x):
        x = self.features(x)
        if self.head == "conv":
            x = self.logits(self.pool(x))
            return torch.softmax(torch.flatten(x, 1), dim=1)
        return self.logits(x.mean(dim=(2, 3)))


def randomize(model, gen):
    """Seeded weights with gains that keep activations O(1) and logits spread."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            gain = 2.0 if m.out_channels >= 10 and m.kernel_size == (1, 1) and m.bias is not None else 1.2
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * gain / math.sqrt(fan_in)
            if m.bias is not None:
                m.bias.data = (torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.2
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = (torch.rand(c, generator=gen) - 0.5) * 0.6
            m.running_mean.data = (torch.rand(c, generator=gen) - 0.5) * 0.4
            m.running_var.data = 0.5 + torch.rand(c, generator=gen) * 1.5
        elif isinstance(m, nn.Linear):
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * 2.0 / math.sqrt(m.in_features)
            m.bias.data = (torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.2


def export(out_dir, name, width, res, classes, head, opset, batch, seed, manifest):
    gen = torch.Generator().manual_seed(seed)
    model = MobileNetV2(width, res, classes, head)
    randomize(model, gen)
    model.eval()
    x = torch.rand((batch, 3, res, res), generator=gen) * 2 - 1
    with torch.no_grad():
        y = model(x)
    path = os.path.join(out_dir, name + ".onnx")
    out_name = "MobilenetV2/Predictions/Reshape_1" if head == "conv" else "logits"
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                      output_names=[out_name],
                      dynamic_axes={"input": {0: "batch"}, out_name: {0: "batch"}},
                      do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)
    x.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".input.bin"))
    y.numpy().astype("<f4").tofile(os.path.join(out_dir, name + ".torch.bin"))
    manifest.append(f"{name} {batch} 3 {res} {res} {classes} {1 if head == 'conv' else 0}")


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(0)
    manifest = []
    # The flagship topology: width 1.4 at 224, 1001 classes, softmax, opset 13.
    export(out_dir, "mnv2_1.4_224_opset13", 1.4, 224, 1001, "conv", 13, 1, 1, manifest)
    # Opset 11 (Clip with min/max inputs), Linear head (Gemm), logits only.
    export(out_dir, "mnv2_1.0_128_opset11", 1.0, 128, 10, "linear", 11, 2, 2, manifest)
    # Opset 9 (Clip and Pad with attributes), small width.
    export(out_dir, "mnv2_0.35_96_opset9", 0.35, 96, 1001, "conv", 9, 2, 3, manifest)
    with open(os.path.join(out_dir, "manifest.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
