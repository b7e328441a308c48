#!/usr/bin/env python3
"""Static throughput of the NEON kernels' inner loops (docs/arm64.md), from llvm-mca.

Compiles the NEON kernel files with the aarch64 cross compiler and the flags the build
uses, picks the hot loop of each kernel out of the assembly (the simple loop with the most
multiply instructions), and asks llvm-mca how many cycles one iteration takes on each CPU
model. The peak is what the same model gives for a loop of independent fmla / sdot, so
each ratio is against that model's own ceiling. This is a model, not a measurement: no
ARM hardware was used.

Usage: scripts/arm64-mca.py [--mca llvm-mca-19] [--cpus cortex-a76,neoverse-n1]
Needs g++-aarch64-linux-gnu (scripts/cross-aarch64.sh installs it) and llvm-mca (Debian
package llvm-19; llvm-14's has no Neoverse-N1 model).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CXX = "aarch64-linux-gnu-g++"
BASE_FLAGS = ["-std=c++20", "-O3", "-DNDEBUG", "-I" + os.path.join(ROOT, "src"),
              "-I" + os.path.join(ROOT, "include")]

# (name, source, extra flags, function regex, {mnemonic regex: MACs per instruction}, kind)
KERNELS = [
    ("fp32 GEMM 8x8 tile (fmla)", "src/kernels/neon/kernels.cpp", [],
     r"gemm_tile.*neon3Vec.*Li8ELi2ELi2E", {r"fmla\s+v\d+\.4s": 4}, "fmla"),
    ("fp32 GEMM 1x32 row (fmla)", "src/kernels/neon/kernels.cpp", [],
     r"gemm_row4.*neon3Vec", {r"fmla\s+v\d+\.4s": 4}, "fmla"),
    ("fp32 depthwise 3x3 row (fmla)", "src/kernels/neon/kernels.cpp", [],
     r"^_ZN4mnv27kernels4simd9dw3x3_row.*neon3Vec.*DwArgsEi$", {r"fmla\s+v\d+\.4s": 4}, "fmla"),
    ("int8 GEMM 8x8 sdot (Quads8Signed)", "src/kernels/neon/qkernels_dotprod.cpp",
     ["-march=armv8.2-a+dotprod"], r"QVecTILb1EE.*QLayoutE2ELi8ELi2EE",
     {r"sdot\s": 16}, "sdot"),
    ("int8 GEMM 4x8 smull+sadalp (Quads8Signed)", "src/kernels/neon/qkernels.cpp", [],
     r"QVecTILb0EE.*QLayoutE2ELi4ELi2EE", {r"smull2?\s+v\d+\.8h": 8}, "smull"),
    ("int8 GEMM 6x8 smlal (Pairs16)", "src/kernels/neon/qkernels.cpp", [],
     r"QVecTILb0EE.*QLayoutE0ELi6ELi2EE", {r"smlal2?\s+v\d+\.4s": 4}, "smlal"),
    ("int8 depthwise 3x3 row (smlal)", "src/kernels/neon/qkernels.cpp", [],
     r"dw_rowILb0EE", {r"smlal2?\s+v\d+\.4s": 4}, "smlal"),
]

# The ceilings: the model's throughput for 24 independent instructions of the kind each
# kernel is built on (fmla, sdot, or without sdot the widening multiplies smull .8h and
# smlal .4s, which A76 / N1 issue on one pipe only).
def _peak(fmt, macs):
    return "".join(fmt.format(i) + "\n" for i in range(24)), 24 * macs


PEAKS = {
    "fmla": ("fmla .4s (fp32, 4 MACs)", *_peak("fmla v{}.4s, v30.4s, v31.4s", 4), []),
    "sdot": ("sdot .4s (int8, 16 MACs)", *_peak("sdot v{}.4s, v30.16b, v31.16b", 16),
             ["-mattr=+dotprod"]),
    "smull": ("smull .8h (int8, 8 MACs)", *_peak("smull v{}.8h, v30.8b, v31.8b", 8), []),
    "smlal": ("smlal .4s (int16, 4 MACs)", *_peak("smlal v{}.4s, v30.4h, v31.4h", 4), []),
}


def function_bodies(asm, pattern):
    """The bodies of every function whose mangled name matches (the tile of the full row
    count may be inlined into run() or stay a function of its own)."""
    lines = asm.splitlines()
    bodies = []
    for i, line in enumerate(lines):
        m = re.match(r"^(_Z\S+):$", line)
        if m and re.search(pattern, m.group(1)):
            body = []
            for l2 in lines[i + 1:]:
                if l2.startswith("\t.size") or re.match(r"^_Z\S+:$", l2):
                    break
                body.append(l2)
            bodies.append(body)
    if not bodies:
        raise SystemExit(f"arm64-mca: no function matching {pattern}")
    return bodies


def hot_loop(bodies, macs):
    """The simple loop (a label, a backward branch to it, no label in between) with the most
    MACs; returns its instructions and MACs per iteration."""
    best = None
    for body in bodies:
        best = _hot_loop(body, macs, best)
    if best is None:
        raise SystemExit("arm64-mca: no loop with the expected instructions")
    return best


def _hot_loop(body, macs, best):
    code = [l for l in body if not re.match(r"^\s*\.(cfi|loc|p2align|align)", l)]
    for i, line in enumerate(code):
        m = re.match(r"^(\.L\w+):$", line)
        if not m:
            continue
        label = m.group(1)
        for j in range(i + 1, len(code)):
            if re.match(r"^\.L\w+:$", code[j]):
                break
            if re.match(r"^\s+(b\.?\w*|cbn?z|tbn?z)\s(.*[\s,])?" + re.escape(label) + r"$", code[j]):
                insts = [l.strip() for l in code[i + 1:j + 1] if l.startswith("\t")]
                n = sum(k for l in insts for p, k in macs.items() if re.match(p, l))
                if n and (best is None or n > best[1]):
                    best = (insts, n)
                break
    return best


def mca_cycles(mca, cpu, text, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".s", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        out = subprocess.run([mca, "-mtriple=aarch64-linux-gnu", f"-mcpu={cpu}", "-iterations=1000",
                              *extra, path], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(path)
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    return cycles / 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mca", default="llvm-mca-19")
    ap.add_argument("--cpus", default="cortex-a76,neoverse-n1")
    args = ap.parse_args()
    cpus = args.cpus.split(",")
    peaks = {}
    for kind, (label, text, macs, extra) in PEAKS.items():
        peaks[kind] = {c: macs / mca_cycles(args.mca, c, text, extra) for c in cpus}
        print(f"peak {label}: " + ", ".join(f"{c} {peaks[kind][c]:.1f} MAC/cycle" for c in cpus))
    asm_cache = {}
    print(f"{'kernel':42} {'insts':>5} {'MACs':>5}  " +
          "  ".join(f"{c + ' cyc (MAC/c, %peak)':>32}" for c in cpus))
    for name, src, flags, func, macs, kind in KERNELS:
        key = (src, tuple(flags))
        if key not in asm_cache:
            asm_cache[key] = subprocess.run(
                [CXX, *BASE_FLAGS, *flags, "-S", "-o", "-", os.path.join(ROOT, src)],
                capture_output=True, text=True, check=True).stdout
        insts, n = hot_loop(function_bodies(asm_cache[key], func), macs)
        extra = ["-mattr=+dotprod"] if any("armv8.2" in f for f in flags) else []
        cols = []
        for c in cpus:
            cyc = mca_cycles(args.mca, c, "\n".join(insts) + "\n", extra)
            rate = n / cyc
            cols.append(f"{cyc:7.2f} ({rate:5.1f}, {100 * rate / peaks[kind][c]:3.0f} %)")
        print(f"{name:42} {len(insts):5d} {n:5d}  " + "  ".join(f"{x:>32}" for x in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
