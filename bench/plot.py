#!/usr/bin/env python3
"""Pictures of a flashmla_bench run (matplotlib, Agg backend; `pip install .[bench]` or `pip install matplotlib`).

    python bench/plot.py bench/results/NVIDIA-H200-2026-12-01.json \
        --families bench/results/NVIDIA-H200-2026-12-01-families.json --out docs/img

writes, under --out, <card>-<date>-ratios.png (our time over FlashMLA's and over the best peer's, per case),
<card>-<date>-roofline.png (achieved TFLOPS against arithmetic intensity under the copy / GEMM roof of
the same run) and, with --families, <card>-<date>-families.png (sparse decode, sparse prefill: our time
over FlashMLA's; merge: achieved GB/s over the copy ceiling). Every title names the card, the date, the
commit and the ceilings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

DPI = 100
FASTER = "#2b8a3e"  # ratio < 1: faster than the reference
SLOWER = "#c92a2a"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def _date(run: dict) -> str:
    return str(run.get("date_utc") or run.get("date") or "undated")[:10]


def _commit(run: dict) -> str:
    # tree_commit: the commit actually measured, where the run's own git_commit was stale (see the JSON).
    if run.get("tree_commit"):
        return str(run["tree_commit"])[:7]
    commit = str(run.get("git_commit") or run.get("commit") or "unknown")[:7]
    return commit + ("+dirty" if run.get("git_dirty") else "")


def _title(run: dict, what: str, copy_gbps, gemm_tflops) -> str:
    ceil = []
    if copy_gbps:
        ceil.append(f"copy {copy_gbps:,.0f} GB/s")
    if gemm_tflops:
        ceil.append(f"GEMM {gemm_tflops:,.0f} TFLOPS")
    ceilings = ("ceilings: " + ", ".join(ceil)) if ceil else "no ceilings recorded"
    return f"{what}\n{run.get('card', 'unknown card')}, {_date(run)}, commit {_commit(run)}; {ceilings}"


def case_label(name: str) -> str:
    """b128_sq1_h128_hkv1_Lvar4096_nocausal_bf16 -> 'b128 s_q1 h128 L~4096' (+ ' causal', ' hkv2', ' fp16')."""
    parts = name.split("_")
    out, extra = [], []
    for p in parts:
        if p.startswith("sq"):
            out.append("s_q" + p[2:])
        elif p.startswith("hkv"):
            if p != "hkv1":
                extra.append(p)
        elif p.startswith("Lvar"):
            out.append("L~" + p[4:])
        elif p == "causal":
            extra.append("causal")
        elif p in ("nocausal", "bf16"):
            pass
        else:
            out.append(p)
    return " ".join(out + extra)


def _ceilings(run: dict):
    c = run.get("ceilings") or {}
    return c.get("copy_gbps"), c.get("gemm_tflops")


def _save(fig, path: str) -> str:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_ratios(run: dict, path: str) -> str:
    cases = run["cases"]
    labels = [case_label(c["name"]) for c in cases]
    vs_fm = [c.get("us_over_flashmla") for c in cases]
    vs_peer = [c.get("us_over_best_peer") for c in cases]
    n = len(cases)
    fig, ax = plt.subplots(figsize=(10, 0.36 * n + 1.9))
    h = 0.38
    ys = list(range(n))
    finite = [v for v in vs_fm + vs_peer if v]
    hi = max(finite + [1.0]) * 1.12
    for off, vals, color, name in ((-h / 2, vs_fm, "#1971c2", "our time / FlashMLA's"),
                                   (h / 2, vs_peer, "#f08c00", "our time / best peer's")):
        yy = [y + off for y in ys]
        ax.barh(yy, [v or 0 for v in vals], height=h, color=color, label=name)
        for y, v in zip(yy, vals):
            if v:
                ax.text(v + hi * 0.005, y, f"{v:.2f}", va="center", fontsize=7,
                        color=FASTER if v < 1 else "black")
            else:
                ax.text(hi * 0.005, y, "no FlashMLA figure", va="center", fontsize=7, color="grey")
    ax.axvline(1.0, color="black", lw=1.2, ls="--")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8, family="monospace")
    ax.invert_yaxis()
    ax.set_ylim(n - 0.4, -1.4)
    ax.set_xlim(0, hi)
    ax.set_xlabel("time ratio (lower is better; dashed line 1.0 = the same time; < 1: faster)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    copy_gbps, gemm_tflops = _ceilings(run)
    ref = (run.get("reference") or {}).get("source", "")
    ax.set_title(_title(run, "Dense decode: our time over the reference peers", copy_gbps, gemm_tflops), fontsize=10)
    if ref:
        fig.text(0.01, 0.005, "reference: " + ref[:170] + ("..." if len(ref) > 170 else ""), fontsize=6,
                 color="grey", va="bottom")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return _save(fig, path)


def _spread(wanted, lo, hi, gap):
    """Label positions (display units) near `wanted`, at least `gap` apart, inside [lo, hi], order kept."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    pos = [wanted[i] for i in order]
    for _ in range(200):
        moved = False
        for k in range(1, len(pos)):
            if pos[k] - pos[k - 1] < gap:
                d = (gap - (pos[k] - pos[k - 1])) / 2 + 1e-6
                pos[k - 1] -= d
                pos[k] += d
                moved = True
        pos = [min(max(p, lo + k * gap), hi - (len(pos) - 1 - k) * gap) for k, p in enumerate(pos)]
        if not moved:
            break
    out = [0.0] * len(wanted)
    for k, i in enumerate(order):
        out[i] = pos[k]
    return out


def plot_roofline(run: dict, path: str) -> str:
    copy_gbps, gemm_tflops = _ceilings(run)
    pts = [c for c in run["cases"] if c.get("flop") and c.get("bytes") and c.get("tflops")]
    ai = [c["flop"] / c["bytes"] for c in pts]
    tf = [c["tflops"] for c in pts]
    ratio = [c.get("us_over_best_peer") or float("nan") for c in pts]
    fig = plt.figure(figsize=(12, 7.5))
    ax = fig.add_axes((0.07, 0.09, 0.56, 0.78))
    xlo, xhi = min(ai) / 2.5, max(ai) * 2.5
    ylo = min(tf) / 2.5
    yhi = (gemm_tflops or max(tf)) * 1.8
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    if copy_gbps and gemm_tflops:
        ridge = gemm_tflops * 1e12 / (copy_gbps * 1e9)
        xs = [xlo, ridge, xhi]
        ys = [copy_gbps * 1e9 * xlo / 1e12, gemm_tflops, gemm_tflops]
        ax.plot(xs, ys, color="black", lw=1.8, label="roof: min(copy x intensity, GEMM)")
        ax.axvline(ridge, color="grey", lw=0.8, ls=":")
        ax.text(ridge * 1.05, gemm_tflops * 1.25, f"ridge {ridge:.0f} FLOP/B", fontsize=8, color="grey")
        fig.canvas.draw()
        x0, x1 = xlo * 1.6, xlo * 3.2
        (dx0, dy0), (dx1, dy1) = ax.transData.transform([(x0, copy_gbps * 1e-3 * x0), (x1, copy_gbps * 1e-3 * x1)])
        angle = math.degrees(math.atan2(dy1 - dy0, dx1 - dx0))
        ax.text(x0, copy_gbps * 1e-3 * x0 * 1.25, f"copy {copy_gbps:,.0f} GB/s", fontsize=8, rotation=angle,
                rotation_mode="anchor", ha="left", va="bottom")
        ax.text(xhi / 1.1, gemm_tflops * 1.08, f"GEMM {gemm_tflops:,.0f} TFLOPS", fontsize=8, ha="right")
    finite = [r for r in ratio if r == r]
    lo_r, hi_r = (min(finite + [0.9]), max(finite + [1.1])) if finite else (0.9, 1.1)
    norm = TwoSlopeNorm(vmin=min(lo_r, 0.99), vcenter=1.0, vmax=max(hi_r, 1.01))
    sc = ax.scatter(ai, tf, c=ratio, cmap="RdYlGn_r", norm=norm, s=36, edgecolor="black", linewidth=0.6,
                    zorder=3)
    cax = ax.inset_axes((0.60, 0.07, 0.36, 0.025))
    cb = fig.colorbar(sc, cax=cax, orientation="horizontal")
    cb.ax.tick_params(labelsize=7)
    cb.set_label("colour: our time / best peer's (green: faster)", fontsize=8)
    ax.set_xlabel("arithmetic intensity (FLOP / byte, formulas of the run)")
    ax.set_ylabel("achieved TFLOPS")
    ax.grid(which="both", alpha=0.25)
    ax.legend(loc="upper left", fontsize=8)
    # Labels in a column right of the axes, joined to their points by thin leader lines.
    fig.canvas.draw()
    to_disp = ax.transData.transform
    disp = [to_disp((x, y)) for x, y in zip(ai, tf)]
    gap = 12.5 * DPI / 72  # 8-pt text plus leading, in pixels
    bbox = ax.get_window_extent()
    label_y = _spread([d[1] for d in disp], bbox.y0, bbox.y1, gap)
    label_x = fig.bbox.width * 0.665
    inv = fig.transFigure.inverted().transform
    for c, (px, py), ly, r in zip(pts, disp, label_y, ratio):
        fx, fy = inv((label_x, ly))
        text = f"{case_label(c['name'])}  {c['tflops']:.0f} TF  x{r:.2f}"
        fig.text(fx, fy, text, fontsize=8, va="center", family="monospace")
        ex, ey = inv((label_x - 4, ly))
        sx, sy = inv((px, py))
        fig.add_artist(matplotlib.lines.Line2D([sx, ex], [sy, ey], lw=0.5, color="grey", alpha=0.7,
                                               transform=fig.transFigure))
    fig.text(0.665, 0.89, "case  achieved TFLOPS  x time / best peer", fontsize=8, weight="bold")
    fig.suptitle(_title(run, "Dense decode roofline", copy_gbps, gemm_tflops), fontsize=10, y=0.985)
    return _save(fig, path)


def plot_families(fam: dict, path: str) -> str:
    ceil = fam.get("ceilings_same_day") or {}
    panels = []
    for key, title in (("sparse_decode", "Sparse decode (FP8 cache): our time / FlashMLA's"),
                       ("sparse_prefill", "Sparse prefill: our time / FlashMLA's")):
        rows = [r for r in fam.get(key, []) if r.get("us_over_flashmla")]
        if rows:
            panels.append((title, [r["case"] for r in rows], [r["us_over_flashmla"] for r in rows], True))
    merge = [r for r in fam.get("merge", []) if r.get("ratio")]
    if merge:
        panels.append(("Merge of partial attention: achieved GB/s / copy GB/s (higher is better)",
                       [r["case"] for r in merge], [r["ratio"] for r in merge], False))
    tmax = max([max(p[2]) for p in panels if p[3]] + [1.0])
    heights = [len(p[1]) + 2 for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.3 * sum(heights) + 1.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (title, names, vals, is_time) in zip(axes[:, 0], panels):
        ys = list(range(len(names)))
        colors = [(FASTER if v <= 1 else SLOWER) if is_time else "#1971c2" for v in vals]
        ax.barh(ys, vals, color=colors, height=0.6)
        ax.set_yticks(ys)
        ax.set_yticklabels([n.replace("_noholes", "").replace("bench_", "") for n in names], fontsize=8,
                           family="monospace")
        ax.invert_yaxis()
        if is_time:
            ax.set_xscale("log")
            ax.axvline(1.0, color="black", lw=1.2, ls="--")
            ax.set_xlim(0.5, tmax * 1.6)
            ticks = [t for t in (0.5, 1, 2, 4, 8, 16, 32, 64) if t <= tmax * 1.6]
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("time ratio, log scale (lower is better; 1 = FlashMLA's time)", fontsize=8)
            for y, v in zip(ys, vals):
                ax.text(v * 1.03, y, f"{v:.2f}x", va="center", fontsize=7)
        else:
            ax.set_xlim(0, 1.1)
            ax.axvline(1.0, color="black", lw=1.2, ls="--")
            ax.set_xlabel("fraction of the cudaMemcpy D2D bandwidth of the same measurement", fontsize=8)
            for y, v in zip(ys, vals):
                ax.text(v + 0.01, y, f"{v:.2f}", va="center", fontsize=7)
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(_title(fam, "Kernel families", ceil.get("copy_gbps"), ceil.get("gemm_tflops")), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="flashmla_bench results JSON (bench/results/<card>-<date>.json)")
    ap.add_argument("--families", help="kernel families JSON (bench/results/<card>-<date>-families.json)")
    ap.add_argument("--out", default=".", help="output folder (created; default: .)")
    ap.add_argument("--prefix", help="file name prefix (default: <card>-<date> of the run)")
    args = ap.parse_args(argv)
    with open(args.results) as f:
        run = json.load(f)
    if not run.get("cases"):
        ap.error(f"{args.results}: no 'cases'")
    os.makedirs(args.out, exist_ok=True)
    prefix = args.prefix or _slug(f"{run.get('card', 'unknown')}-{_date(run)}")
    written = [plot_ratios(run, os.path.join(args.out, f"{prefix}-ratios.png")),
               plot_roofline(run, os.path.join(args.out, f"{prefix}-roofline.png"))]
    if args.families:
        with open(args.families) as f:
            fam = json.load(f)
        written.append(plot_families(fam, os.path.join(args.out, f"{prefix}-families.png")))
    for p in written:
        print(f"{p} ({os.path.getsize(p) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
