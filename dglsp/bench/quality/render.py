"""The readable quality report: Markdown tables, one row per runner."""

from __future__ import annotations

from typing import Any

from dglsp.bench.report import header, table

# The bar for the bundled model on held-out single-line Python.
TARGET_LANGUAGE_KIND = "python/single"
TARGET_TEXT = "syntax-valid >= 80 %, exact match >= 20 %"


def render_quality(report: dict[str, Any]) -> str:
    return f"{header(report)}\n\n{_body(report)}\n"


def _body(report: dict[str, Any]) -> str:
    cases, settings, rows = report["cases"], report["settings"], report["rows"]
    per = ", ".join(f"{key} {n}" for key, n in cases["per_language_kind"].items())
    parts = [
        f"{cases['count']} cases from {cases['heldout_files']} held-out files (seed "
        f"{report['options']['seed']}, digest {cases['digest'][:12]}): {per}",
        f"prompt budget {settings['context_budget']} tokens, {_strategies(report)}, entropy bound "
        f"{settings['entropy_bound']}, canvas policy {settings['canvas_policy']}"
        + (
            ""
            if settings["same_tokenizer"] in (None, True)
            else "; WARNING: the baseline's tokenizer differs"
        ),
        *_models(report["models"]),
        "",
        "EM: exact match of the middle (trailing whitespace ignored); ES: mean edit similarity; "
        "valid: the file parses with no new tree-sitter error (empty answers count as invalid); "
        "empty: no completion offered; latency: Pipeline.complete per case, p50 / p95.",
        "",
        "All cases",
        table(
            ["runner", "n", "EM %", "ES", "valid %", "empty %", "latency ms", "mean steps"],
            [
                [
                    row["name"] + (f" (FAILED: {row['error']})" if row["error"] else ""),
                    row["overall"].get("n", 0),
                    *_cells(row["overall"], ("exact", "edit_similarity", "syntax_valid", "empty")),
                    _latency(row["overall"]),
                    row["overall"].get("mean_steps"),
                ]
                for row in rows
            ],
        ),
        "",
        f"Single-line {TARGET_LANGUAGE_KIND.split('/')[0].capitalize()} (the bar: {TARGET_TEXT})",
        table(
            ["runner", "n", "EM %", "ES", "valid %", "empty %"],
            [
                [
                    row["name"],
                    row["by_language_kind"].get(TARGET_LANGUAGE_KIND, {}).get("n", 0),
                    *_cells(
                        row["by_language_kind"].get(TARGET_LANGUAGE_KIND, {}),
                        ("exact", "edit_similarity", "syntax_valid", "empty"),
                    ),
                ]
                for row in rows
            ],
        ),
        "",
        "By kind (EM % / ES / valid %)",
        _grouped(rows, "by_kind", cases["kinds"]),
        "",
        "By language (EM % / ES / valid %)",
        _grouped(rows, "by_language", cases["languages"]),
    ]
    if report.get("dtype_agreement"):
        parts += [
            "",
            "Same answer as the first dtype (same cases, same seeds)",
            table(
                ["runner", "reference", "same answers", "same %"],
                [
                    [a["row"], a["reference"], _same(a), _percent(a["same_answer_pct"])]
                    for a in report["dtype_agreement"]
                ],
            ),
        ]
    return "\n".join(parts)


def _strategies(report: dict[str, Any]) -> str:
    """The strategies of the run, e.g. 'prompt and pinned strategies (causal baseline: prompt)'."""
    settings = report["settings"]
    strategies = settings.get("strategies") or [settings["strategy"]]  # reports before --strategies
    if len(strategies) == 1:
        return f"{strategies[0]} strategy"
    causal = [row for row in report["rows"] if row["kind"] == "causal"]
    return f"{' and '.join(strategies)} strategies" + (
        f" (causal baseline: {causal[0]['strategy']})" if causal else ""
    )


def _models(models: dict[str, Any]) -> list[str]:
    lines = []
    for role, info in models.items():
        training = info.get("training") or {}
        trained = (
            f", trained {training['step']}/{training['steps']} steps of batch {training['batch_size']}"
            if training.get("step") is not None
            else ""
        )
        lines.append(
            f"{role}: {info['path']} ({info['architecture']}, {info['parameters'] / 1e6:.2f}M parameters, "
            f"{info['active_parameters'] / 1e6:.2f}M active{trained})"
        )
    return lines


def _grouped(rows: list[dict[str, Any]], field: str, groups: list[str]) -> str:
    return table(
        ["runner", *groups],
        [[row["name"], *(_triple(row[field].get(group, {})) for group in groups)] for row in rows],
    )


def _triple(figures: dict[str, Any]) -> str:
    if not figures.get("n"):
        return "-"
    exact, similarity, valid = _cells(figures, ("exact", "edit_similarity", "syntax_valid"))
    return f"{exact} / {similarity} / {valid} (n={figures['n']})"


def _cells(figures: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    cells = []
    for name in names:
        value = figures.get(name)
        if value is None:
            cells.append("-")
        elif name == "edit_similarity":
            cells.append(f"{value:.2f}")
        else:
            cells.append(f"{100 * value:.1f}")
    return cells


def _same(agreement: dict[str, Any]) -> str:
    return f"{agreement['same_answer']}/{agreement['cases']}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _latency(figures: dict[str, Any]) -> str:
    latency = figures.get("latency_ms")
    return f"{latency['p50']:.0f} / {latency['p95']:.0f}" if latency else "-"
