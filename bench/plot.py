#!/usr/bin/python3
"""Draws the performance plot of docs/performance.md from the JSON that bench/sweep.sh and
bench/peers/run.sh write.

  /usr/bin/python3 bench/plot.py --sweep sweep.json [--peers peers.json] -o performance.png

Left: batch-1 median latency against threads (mnv2 sweep: best p50 of the repeats; every
engine of the peer run: pooled median of the interleaved rounds). Right: throughput against
batch at the largest thread count (mnv2 sweep: best of the repeats; peer run: pooled), and
mnv2's throughput against streams (batch 1 per stream) on the same axis.
Needs matplotlib (Debian python3-matplotlib; bench/sweep.sh installs it when missing).
"""
import argparse
import json
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot.py: matplotlib is missing (apt-get install python3-matplotlib)")

COLORS = {"mnv2": "tab:blue", "ort": "tab:orange", "opencv": "tab:green", "xnnpack": "tab:red"}
NAMES = {"ort": "ONNX Runtime", "opencv": "OpenCV DNN", "xnnpack": "XNNPACK"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--peers")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    sw = json.load(open(a.sweep))
    pe = json.load(open(a.peers)) if a.peers else None

    fig, (l, r) = plt.subplots(1, 2, figsize=(11, 4.2))
    # ---- latency vs threads ----
    xs = [row["threads"] for row in sw["latency_vs_threads"]]
    ys = [min(run["latency_ms"]["p50"] for run in row["runs"]) for row in sw["latency_vs_threads"]]
    l.plot(xs, ys, "o-", color=COLORS["mnv2"], label="mnv2 (sweep, best p50)")
    if pe:
        b1 = [x for x in pe["results"] if x["batch"] == 1]
        t = [x["threads"] for x in b1]
        l.plot(t, [x["mnv2"]["median_ms"] for x in b1], "o--", color=COLORS["mnv2"], alpha=0.6,
               label="mnv2 (peer run)")
        for p in pe["peers"]:
            l.plot(t, [x["peers"][p]["median_ms"] for x in b1], "s--", color=COLORS.get(p),
                   label=NAMES.get(p, p) + " (peer run)")
    l.set_xlabel("threads")
    l.set_ylabel("batch-1 median latency (ms)")
    l.set_xticks(sorted(set(xs)))
    l.set_ylim(bottom=0)
    l.grid(alpha=0.3)
    l.legend(fontsize=7)
    l.set_title("latency vs threads", fontsize=10)

    # ---- throughput vs batch / streams ----
    cores = sw["cores"]
    xb = [row["batch"] for row in sw["throughput_vs_batch"]]
    yb = [max(run["throughput_ips"] for run in row["runs"]) for row in sw["throughput_vs_batch"]]
    r.plot(xb, yb, "o-", color=COLORS["mnv2"], label=f"mnv2, batch B ({cores} threads)")
    xs_ = [row["streams"] for row in sw["throughput_vs_streams"]]
    ys_ = [max(run["throughput_ips"] for run in row["runs"]) for row in sw["throughput_vs_streams"]]
    r.plot(xs_, ys_, "^:", color="tab:purple", label=f"mnv2, S streams x batch 1 ({cores} threads)")
    if pe:
        tmax = max(x["threads"] for x in pe["results"])
        rows = sorted((x for x in pe["results"] if x["threads"] == tmax), key=lambda x: x["batch"])
        bb = [x["batch"] for x in rows]
        for p in pe["peers"]:
            r.plot(bb, [x["peers"][p]["throughput_ips"] for x in rows], "s--", color=COLORS.get(p),
                   label=f"{NAMES.get(p, p)}, batch B ({tmax} threads, peer run)")
    r.set_xscale("log", base=2)
    ticks = sorted(set(xb) | set(xs_))
    r.set_xticks(ticks)
    r.set_xticklabels([str(v) for v in ticks])
    r.set_xlabel("batch B / streams S")
    r.set_ylabel("images per second")
    r.set_ylim(bottom=0)
    r.grid(alpha=0.3)
    r.legend(fontsize=7)
    r.set_title("throughput vs batch and streams", fontsize=10)

    la = sw.get("loadavg_1min", {})
    sub = (f"{sw.get('model', '')}, {sw.get('cpu', '')} ({cores} cores), {sw.get('date', '')}; "
           f"1-min load average {la.get('start', '?')} -> {la.get('after_sweep', '?')}")
    if pe:
        sub += f"; peer run {pe.get('date', '')} load {pe.get('loadavg_at_end', '?').split()[0]}"
    fig.suptitle("MobileNetV2 fp32 on CPU: mnv2 and peers\n" + sub, fontsize=9)
    fig.tight_layout()
    fig.savefig(a.output, dpi=90)
    print(f"plot.py: wrote {a.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
