"""The readable form of bench reports (what `dglsp bench NAME` prints without --json)."""

from __future__ import annotations

from typing import Any

from dglsp.bench import batching, experts
from dglsp.bench.report import header, human_bytes, p50_p95, table


def render(report: dict[str, Any]) -> str:
    body = _RENDERERS[report["bench"]](report)
    return f"{header(report)}\n\n{body}\n"


def render_engine(report: dict[str, Any]) -> str:
    engine = report["engine"]
    parts = [
        f"engine: {engine['source']} ({engine['class']}) on {engine['device']}, {engine['dtype']}, "
        f"canvas {engine['canvas_length']}, {human_bytes(engine['weight_bytes'])} of weights, "
        f"experts {engine.get('experts', 'not recorded')}; "
        f"max steps {report['options']['steps']}, {report['options']['repeat']} runs per figure "
        "(p50 / p95, ms)",
        "",
        "Prefill: cold (empty prompt cache) vs warm (a line typed at the cursor, one request per "
        "keystroke; 'misses': keystrokes that reused nothing from the cache)",
        table(
            [
                "budget",
                "prompt tokens",
                "cold encode",
                "warm encode",
                "reused tokens",
                "misses",
                "saved/keystroke",
                "mean saved",
                "first draft cold",
                "first draft warm",
            ],
            [
                [
                    row["budget_tokens"],
                    row["prompt_tokens"]["p50"],
                    p50_p95(row["cold"]["encode_ms"]),
                    p50_p95(row["warm"]["encode_ms"]),
                    row["warm"]["reused_tokens"]["p50"],
                    f"{row['cache_misses']}/{row['keystrokes']}",
                    row["saved_ms_per_keystroke"],
                    row["mean_saved_ms_per_keystroke"],
                    p50_p95(row["cold"]["first_draft_ms"]),
                    p50_p95(row["warm"]["first_draft_ms"]),
                ]
                for row in report["prefill"]
            ],
        ),
        "",
        "Canvas policy (examples/stats.py) and strategy (the holes of examples/*)",
        table(
            ["case", "canvas", "total", "first draft", "per step", "steps"],
            [
                [
                    row.get("policy") or f"strategy {row['strategy']}",
                    row["canvas_length"],
                    p50_p95(row["total_ms"]),
                    p50_p95(row["first_draft_ms"]),
                    p50_p95(row["step_ms"]),
                    row["steps"]["p50"],
                ]
                for row in [*report["canvas_policy"], *report["strategy"]]
            ],
        ),
        "",
        "Infill-aware stopping (the denoising loop alone, same prompt and seeds)",
        table(
            ["infill_stop", "steps", "denoise"],
            [
                [row["infill_stop"], p50_p95(row["steps"], 1), p50_p95(row["denoise_ms"])]
                for row in report["stopping"]
            ],
        ),
        "",
        "Cancellation: CancelToken.cancel() to Cancelled",
        table(
            ["when", "from cancel()", "from when it was due", "finished first"],
            [
                [
                    row["when"],
                    p50_p95(row["latency_ms"], 3),
                    p50_p95(row["latency_from_due_ms"], 3),
                    row["finished_before_cancel"],
                ]
                for row in report["cancellation"]
            ],
        ),
        "",
        batching.render(report["batching"]) if report.get("batching") else "Batching: not measured",
        "",
        experts.render(report["experts"]) if report.get("experts") else "Experts: not measured",
        "",
        _middles(report),
        "",
        f"memory: {report['memory']['kind']}: {human_bytes(report['memory']['bytes'])}",
    ]
    return "\n".join(parts)


def _middles(report: dict[str, Any]) -> str:
    floor = report["floor"]
    ar = report.get("autoregressive")
    rows = []
    for row in report["middles"]:
        ratios = row["ratios"]
        rows.append(
            [
                row["tokens"],
                row["steps"]["p50"],
                row["denoise_ms"]["p50"],
                row["floor_denoise_ms"],
                ratios["ours_over_floor"],
                row.get("ar_decode_ms"),
                ratios.get("ours_over_ar_decode"),
                row["total_ms"]["p50"],
                row.get("ar_total_ms"),
                ratios.get("ours_over_ar_total"),
                ratios.get("break_even_steps"),
            ]
        )
    lines = [
        "Ours vs the floor and autoregressive decoding (p50, ms; 'denoise' excludes prefill, "
        "'total' includes it)",
        table(
            [
                "middle",
                "steps",
                "ours denoise",
                "floor",
                "ours/floor",
                "AR decode",
                "ours/AR decode",
                "ours total",
                "AR total",
                "ours/AR total",
                "break-even steps",
            ],
            rows,
        ),
        f"floor: {human_bytes(floor['bandwidth_bytes_per_s'])}/s measured by {floor['bandwidth_kind']}; "
        f"bytes per step: "
        + ", ".join(f"{k} cells {human_bytes(v['bytes'])}" for k, v in floor["by_middle"].items()),
    ]
    if ar:
        lines.append(
            f"AR: {ar['model']}; {human_bytes(ar['weight_bytes'])} of weights, "
            f"{human_bytes(ar['token_weight_bytes'])} read per token; prompt {ar['prompt_tokens']} tokens"
        )
    else:
        lines.append("AR: not measured (--no-baseline)")
    return "\n".join(lines)


def render_overhead(report: dict[str, Any]) -> str:
    from dglsp.bench.overhead import STAGES

    parts = [
        f"Server time per keystroke, engine excluded (p50 ms per stage; total p50 / p95); "
        f"positions in {report['options']['encoding']}",
        table(
            [
                "language",
                "lines",
                *STAGES,
                "total",
                "without parse",
                "parse alone: tree-sitter / dglsp",
                "superseded",
                "prompt (estimated tok.)",
                "per draft",
            ],
            [
                [
                    row["language"],
                    row["lines"],
                    *(row["stages_ms"][s]["p50"] for s in STAGES),
                    p50_p95(row["total_ms"], 3),
                    _p50(row, "total_without_parse_ms"),
                    _pair(row, "tree_sitter_alone_ms", "document_parse_alone_ms"),
                    _p50(row, "superseded_keystroke_ms"),
                    row["prompt_estimated_ms"]["p50"],
                    row["draft_filter_ms"]["p50"],
                ]
                for row in report["results"]
            ],
        ),
        "without parse: the total less the parse stage; parse alone: the same edits parsed by a bare "
        "tree-sitter Parser and by a Document, side by side in a pass of their own; superseded: a "
        "keystroke whose request is superseded (no parse)",
        "",
    ]
    target = report["target"]
    for verdict in target["by_language"]:
        measured = verdict["p50_total_ms_at_10000_lines"]
        met = {True: "MET", False: "NOT MET"}.get(verdict["met"], "not measured")
        at = f" ({measured} ms)" if measured is not None else f" (add {target['lines']} to --lines)"
        growing = ", ".join(verdict["stages_growing_with_size"]) or "none"
        line = (
            f"target ({verdict['language']}): p50 total <= {target['p50_total_ms_max']} ms at "
            f"{target['lines']} lines: {met}{at}"
        )
        if verdict.get("p50_total_without_parse_ms_at_10000_lines") is not None:
            line += (
                f"; parse {verdict['p50_parse_ms_at_10000_lines']} ms, without it "
                f"{verdict['p50_total_without_parse_ms_at_10000_lines']} ms"
                f" ({'within' if verdict['met_without_parse'] else 'over'} the target)"
            )
        parts.append(f"{line}; stages growing with file size: {growing}")
    profile = report.get("profile")
    if profile:
        parts += [
            "",
            f"Where the time goes ({profile['language']}, {profile['lines']} lines; cProfile, per keystroke)",
            table(
                ["function", "calls", "self ms", "cumulative ms"],
                [
                    [
                        r["function"],
                        r["calls_per_keystroke"],
                        r["self_ms_per_keystroke"],
                        r["cumulative_ms_per_keystroke"],
                    ]
                    for r in profile["by_self_time"]
                ],
            ),
        ]
    return "\n".join(parts)


def _p50(row: dict[str, Any], key: str) -> Any:
    """A row's p50 for `key`, or "-" in a report written before that figure existed."""
    return row[key]["p50"] if key in row else "-"


def _pair(row: dict[str, Any], first: str, second: str) -> str:
    """Two p50s as "a / b" (3 decimals, like the total), or "-" in an older report."""
    if first not in row or second not in row:
        return "-"
    return f"{row[first]['p50']:.3f} / {row[second]['p50']:.3f}"


_RENDERERS = {"engine": render_engine, "overhead": render_overhead}
