"""The two charts of an engine report (issue 9), drawn with matplotlib from its JSON.

- `time_split.png`: where one request's time goes, per middle length: prompt encoding
  (prefill), the denoising steps, and the rest (host syncs, decoding drafts, the server's
  post-processing: total minus the two measured parts).
- `latency_by_middle.png`: total latency against middle length for ours, the
  autoregressive baseline and the floor (the floor's denoising time plus our own prefill:
  the floor bounds the steps only).

Every chart's title names the device and the date from the report's provenance, so a CPU
chart can never pass for a GPU one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FILES = ("time_split.png", "latency_by_middle.png")


def draw(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write both charts into out_dir; returns their paths."""
    if report.get("bench") != "engine":
        raise ValueError("charts are drawn from a `dglsp bench engine` report")
    if not report.get("middles"):
        raise ValueError("the report has no middles section to chart")
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    out_dir.mkdir(parents=True, exist_ok=True)
    return [_time_split(report, out_dir / FILES[0]), _latency_by_middle(report, out_dir / FILES[1])]


def _provenance(report: dict[str, Any]) -> str:
    env = report.get("environment", {})
    engine = report.get("engine", {})
    date = str(env.get("date", "?"))[:10]
    return f"{engine.get('source', '?')} on {env.get('device', '?')}, {date}"


def _time_split(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    rows = report["middles"]
    labels = [f"{row['tokens']} tokens\n({row['steps']['p50']:g} steps)" for row in rows]
    prefill = [row["encode_ms"]["p50"] for row in rows]
    steps = [row["denoise_ms"]["p50"] for row in rows]
    other = [max(0.0, row["total_ms"]["p50"] - a - b) for row, a, b in zip(rows, prefill, steps, strict=True)]
    figure, axes = plt.subplots(figsize=(8, 1.8 + 0.7 * len(rows)))
    left = [0.0] * len(rows)
    for name, values, colour in (
        ("prefill (prompt encoding)", prefill, "#4c72b0"),
        ("denoising steps", steps, "#dd8452"),
        ("sync, decoding, post-processing", other, "#8c8c8c"),
    ):
        axes.barh(labels, values, left=left, label=name, color=colour)
        left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_xlabel("ms (p50)")
    axes.invert_yaxis()
    axes.set_title(f"Where one request's time goes\n{_provenance(report)}", fontsize=10)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _latency_by_middle(report: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    rows = report["middles"]
    tokens = [row["tokens"] for row in rows]
    ours = [row["total_ms"]["p50"] for row in rows]
    floor = [row["floor_denoise_ms"] + row["encode_ms"]["p50"] for row in rows]
    figure, axes = plt.subplots(figsize=(7, 4.2))
    axes.plot(tokens, ours, marker="o", label="ours (dglsp engine)")
    if all("ar_total_ms" in row for row in rows):
        axes.plot(
            tokens, [row["ar_total_ms"] for row in rows], marker="s", label="autoregressive, same geometry"
        )
    axes.plot(tokens, floor, marker="^", linestyle="--", label="floor (weights read per step) + our prefill")
    axes.set_xscale("log", base=2)
    axes.set_xticks(tokens, [str(n) for n in tokens])
    axes.set_xlabel("middle length (tokens)")
    axes.set_ylabel("total latency, ms (p50)")
    axes.set_ylim(bottom=0)
    axes.set_title(f"Latency against middle length\n{_provenance(report)}", fontsize=10)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse

    from dglsp.bench.report import read_report

    parser = argparse.ArgumentParser(
        prog="python -m dglsp.bench.charts", description="Draw the engine report's charts (PNG)."
    )
    parser.add_argument("report", type=Path, help="a `dglsp bench engine --output FILE` report")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for the PNG files (default .)")
    args = parser.parse_args(argv)
    for written in draw(read_report(args.report), args.out):
        print(written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
