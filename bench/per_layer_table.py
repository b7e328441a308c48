#!/usr/bin/python3
"""Turns `mnv2 bench --per-layer --json` output into the Markdown tables of
docs/performance.md: one row per executor step, then a summary per kind of layer.

  /usr/bin/python3 bench/per_layer_table.py per_layer.json > per_layer.md
"""
import json
import sys


def kind(row):
    n, op = row["name"], row["op"]
    if op == "dw3x3" or op == "dw":
        return "3x3 depthwise"
    if n.endswith("/expand"):
        return "1x1 expand GEMMs"
    if n.endswith("/project"):
        return "1x1 project GEMMs (residual add fused)"
    if op == "im2col+gemm":
        return "first 3x3 conv (im2col + GEMM)"
    if op == "gemm":
        return "other GEMMs (Conv_1, logits)"
    return "pool, softmax, other"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    j = json.load(open(sys.argv[1]))
    pl = j["per_layer"]
    print(f"{j['model']}, {j['threads']} thread(s), batch {j['batch']}, isa {j['isa']}, "
          f"{j['iterations']} timed iterations: mean latency {j['latency_ms']['mean']:.2f} ms, "
          f"sum of the steps {pl['sum_ms']:.2f} ms. Roofline ceilings measured in the same run: "
          f"{pl['peak_gmacs']:.1f} GMAC/s FMA peak, activations at {pl['cache_gbs']:.1f} GB/s "
          f"(triad over 3 x 2 MiB), weights at {pl['dram_gbs']:.1f} GB/s (3 x 64 MiB).\n")
    print("| # | step | op | output | ms | % | GMAC/s | MAC/B | bound | % of roofline |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(pl["rows"]):
        name = r["name"].replace("MobilenetV2/", "")
        shape = "x".join(str(v) for v in r["output"])
        roof = 100 * r["roofline_ms"] / r["ms"] if r["ms"] > 0 else 0
        print(f"| {i} | {name} | {r['op']} | {shape} | {r['ms']:.3f} | {r['percent']:.1f} | "
              f"{r['gmacs_per_s']:.1f} | {r['macs_per_byte']:.2f} | {r['bound'] or '-'} | {roof:.0f} |")
    groups = {}
    for r in pl["rows"]:
        g = groups.setdefault(kind(r), {"ms": 0.0, "macs": 0, "roof": 0.0, "bound": {}})
        g["ms"] += r["ms"]
        g["macs"] += r["macs"]
        g["roof"] += r["roofline_ms"]
        g["bound"][r["bound"] or "-"] = g["bound"].get(r["bound"] or "-", 0) + 1
    total = sum(g["ms"] for g in groups.values())
    print("\n| kind | ms | share | GMAC/s | roofline estimate ms | % of roofline | bound (steps) |")
    print("|---|---|---|---|---|---|---|")
    for k, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"]):
        gm = g["macs"] / (g["ms"] * 1e6) if g["ms"] > 0 else 0
        b = ", ".join(f"{n} {v}" for v, n in sorted(((v, n) for n, v in g["bound"].items()), reverse=True))
        print(f"| {k} | {g['ms']:.2f} | {100 * g['ms'] / total:.0f} % | {gm:.1f} | {g['roof']:.2f} | "
              f"{100 * g['roof'] / g['ms'] if g['ms'] else 0:.0f} % | {b} |")


if __name__ == "__main__":
    main()
