"""Per-case records -> the figures of one table cell: rates, mean similarity, latency."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dglsp.bench.stats import summary


def figures(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Exact-match, syntax-valid and empty rates (0-1), mean edit similarity, latency p50/p95."""
    n = len(records)
    if not n:
        return {"n": 0}
    return {
        "n": n,
        "exact": round(sum(r["exact"] for r in records) / n, 4),
        "edit_similarity": round(sum(r["edit_similarity"] for r in records) / n, 4),
        "syntax_valid": round(sum(r["syntax_valid"] for r in records) / n, 4),
        "empty": round(sum(r["empty"] for r in records) / n, 4),
        "latency_ms": summary((r["latency_ms"] for r in records), digits=1),
        "mean_steps": round(sum(r["steps"] for r in records) / n, 2),
    }


def breakdown(records: Sequence[dict[str, Any]], kinds: Iterable[str], languages: Iterable[str]) -> dict:
    """Figures overall, per kind, per language and per (language, kind)."""
    kinds, languages = list(kinds), list(languages)
    return {
        "overall": figures(records),
        "by_kind": {k: figures([r for r in records if r["kind"] == k]) for k in kinds},
        "by_language": {lang: figures([r for r in records if r["language"] == lang]) for lang in languages},
        "by_language_kind": {
            f"{lang}/{k}": figures([r for r in records if r["language"] == lang and r["kind"] == k])
            for lang in languages
            for k in kinds
        },
    }
