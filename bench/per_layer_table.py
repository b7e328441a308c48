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
    print("ms = mean over the timed iterations, min = fastest iteration (less disturbed by other "
          "processes on a shared machine); GMAC/s and % of roofline use min; % uses the mean.\n")
    print("| # | step | op | output | ms | min ms | % | GMAC/s | MAC/B | bound | % of roofline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(pl["rows"]):
        name = r["name"].replace("MobilenetV2/", "")
        shape = "x".join(str(v) for v in r["output"])
        mn = r["min_ms"]
        roof = 100 * r["roofline_ms"] / mn if mn > 0 else 0
        gm = r["macs"] / (mn * 1e6) if mn > 0 else 0
        print(f"| {i} | {name} | {r['op']} | {shape} | {r['ms']:.3f} | {mn:.3f} | "
              f"{r['percent']:.1f} | {gm:.1f} | {r['macs_per_byte']:.2f} | {r['bound'] or '-'} | "
              f"{roof:.0f} |")
    groups = {}
    for r in pl["rows"]:
        g = groups.setdefault(kind(r), {"ms": 0.0, "min": 0.0, "macs": 0, "roof": 0.0, "bound": {}})
        g["ms"] += r["ms"]
        g["min"] += r["min_ms"]
        g["macs"] += r["macs"]
        g["roof"] += r["roofline_ms"]
        g["bound"][r["bound"] or "-"] = g["bound"].get(r["bound"] or "-", 0) + 1
    total = sum(g["ms"] for g in groups.values())
    total_min = sum(g["min"] for g in groups.values())
    print("\n| kind | ms | min ms | share (of mean) | GMAC/s (min) | roofline estimate ms | "
          "% of roofline (min) | bound (steps) |")
    print("|---|---|---|---|---|---|---|---|")
    for k, g in sorted(groups.items(), key=lambda kv: -kv[1]["ms"]):
        gm = g["macs"] / (g["min"] * 1e6) if g["min"] > 0 else 0
        b = ", ".join(f"{n} {v}" for v, n in sorted(((v, n) for n, v in g["bound"].items()), reverse=True))
        print(f"| {k} | {g['ms']:.2f} | {g['min']:.2f} | {100 * g['ms'] / total:.0f} % | {gm:.1f} | "
              f"{g['roof']:.2f} | {100 * g['roof'] / g['min'] if g['min'] else 0:.0f} % | {b} |")
    print(f"| all | {total:.2f} | {total_min:.2f} | 100 % | "
          f"{sum(g['macs'] for g in groups.values()) / (total_min * 1e6):.1f} | "
          f"{sum(g['roof'] for g in groups.values()):.2f} | "
          f"{100 * sum(g['roof'] for g in groups.values()) / total_min:.0f} % | |")


if __name__ == "__main__":
    main()
