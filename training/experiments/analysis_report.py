"""The experiment report: ``report.md`` of an A/B and interleaving analysis
(:mod:`training.experiments.analysis`), with a plot of each interleaving's wins and the
Wilson interval of each variant's share of them."""

from __future__ import annotations

from pathlib import Path

from training.stats import wilson_interval

METRIC_LABELS = {
    "ctr": "CTR",
    "add_to_cart_rate": "add-to-cart / request",
    "conversion": "orders / request",
    "gmv_per_user": "GMV / user",
    "gmv_per_request": "GMV / request",
}


def _plot_interleaving(e: dict, path: Path) -> None:
    """Share of decided requests the second variant won, per credit, with a 95% interval
    (Wilson); 0.5 is no preference."""
    import matplotlib.pyplot as plt

    a, b = list(e["wins"])
    credits = list(e["by_credit"])
    shares, lows, highs = [], [], []
    for credit in credits:
        w = e["by_credit"][credit]["wins"]
        n = w[a] + w[b]
        p = w[b] / n if n else 0.5
        lo, hi = wilson_interval(w[b], n)
        shares.append(p)
        lows.append(p - lo)
        highs.append(hi - p)
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.bar(credits, shares, yerr=[lows, highs], capsize=4, color="#2a7")
    ax.axhline(0.5, color="#888", linewidth=1, linestyle="--")
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of decided requests won by {b}", fontsize=8)
    ax.set_title(f"interleaving: {b} vs {a}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def interleaving_summary(e: dict) -> list[str]:
    """An interleaving analysis as Markdown: the winner sentence, then a row per credit
    (the report's section and ``experiment analyze``'s printout)."""
    a, b = list(e["wins"])
    share = e["shared_card_share"]
    lines = [
        f"Requests {e['requests']}; winner by **{e['credit']}**, {e['credit_test']} test: "
        f"**{e['winner'] or 'none yet'}**"
        + (" (**the sign test and the mean difference disagree: judge by an A/B test**)"
           if e["tests_disagree"] else "")
        + (f"; {share:.0%} of the cards were on both variants' pages" if share is not None else "")
        + ".",
        "",
        f"| credit | wins {a} | wins {b} | ties | sign test p | mean {b} - {a} per request "
        "[95%] | t-test p | winner (sign / mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for credit, c in e["by_credit"].items():
        lo, hi = c["mean_difference_ci95"]
        lines.append(
            f"| {credit} | {c['wins'][a]} | {c['wins'][b]} | {c['ties']} | "
            f"{c['sign_test_p_value']:.3g} | {c['mean_difference']:+.4g} [{lo:+.4g}, {hi:+.4g}] | "
            f"{c['t_test_p_value']:.3g} | {c['winner_by_sign_test'] or '-'} / "
            f"{c['winner_by_mean'] or '-'} |")
    return lines


def write_report(result: dict, out_dir: Path) -> Path:
    """``report.md`` with a table per experiment and a PNG of each A/B metric with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# Experiment analysis", "", f"{result['requests']} logged requests.", ""]
    for name, e in result["experiments"].items():
        lines += [f"## {name} ({e['mode']})", ""]
        if e["mode"] == "interleave":
            lines += interleaving_summary(e)
            png = f"{name}_wins.png"
            _plot_interleaving(e, out_dir / png)
            lines += ["", f"![{name}]({png})", ""]
            continue
        srm = e["sample_ratio_mismatch"]
        lines += [
            f"Sample-ratio check: users {srm['observed_users']} for shares {srm['expected_shares']}, "
            f"p = {srm['p_value']:.3g}{' **MISMATCH: do not trust this test**' if srm['mismatch'] else ''}.",
            "",
            "| variant | users | requests | "
            + " | ".join(METRIC_LABELS.values())
            + " | latency p50 / p99 ms |",
            "|" + "---|" * (len(METRIC_LABELS) + 4),
        ]
        for v, d in e["variants"].items():
            cells = []
            for m in METRIC_LABELS:
                s = f"{d[m]['value']:.4g} [{d[m]['ci95'][0]:.4g}, {d[m]['ci95'][1]:.4g}]"
                if "lift" in d[m]:
                    s += f" ({d[m]['lift']:+.1%} [{d[m]['lift_ci95'][0]:+.1%}, {d[m]['lift_ci95'][1]:+.1%}])"
                cells.append(s)
            lat = d["latency_ms"]
            lines.append(
                f"| {v} | {d['users']} | {d['requests']} | "
                + " | ".join(cells)
                + f" | {lat['p50']:.2f} / {lat['p99']:.2f} |"
            )
        fig, axes = plt.subplots(1, len(METRIC_LABELS), figsize=(3.2 * len(METRIC_LABELS), 3))
        for ax, (m, label) in zip(axes, METRIC_LABELS.items(), strict=True):
            names = list(e["variants"])
            vals = [e["variants"][v][m]["value"] for v in names]
            err = [
                [vals[i] - e["variants"][v][m]["ci95"][0] for i, v in enumerate(names)],
                [e["variants"][v][m]["ci95"][1] - vals[i] for i, v in enumerate(names)],
            ]
            ax.bar(names, vals, yerr=err, capsize=4, color=["#888", "#2a7"][: len(names)] + ["#27a"] * 8)
            ax.set_title(label, fontsize=9)
        fig.tight_layout()
        png = f"{name}_metrics.png"
        fig.savefig(out_dir / png, dpi=90)
        plt.close(fig)
        lines += ["", f"![{name}]({png})", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
