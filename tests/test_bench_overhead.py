"""`dglsp bench overhead`: the figures beside the stages (total without the parse, the parse
alone in tree-sitter and in a Document, superseded keystrokes) and how they are rendered."""

from __future__ import annotations

import pytest

from dglsp.bench.overhead import PARSE_STAGE, OverheadOptions, run_overhead
from dglsp.bench.render import render_overhead
from dglsp.bench.sources import generate


@pytest.fixture(scope="module")
def report():
    return run_overhead(OverheadOptions(lines=(40, 300), repeat=1, languages=("python",), profile=False))


def test_every_keystroke_has_the_extra_figures(report):
    keystrokes = len(generate("python", 40).typed)
    for row in report["results"]:
        for key in ("total_without_parse_ms", "tree_sitter_alone_ms", "document_parse_alone_ms"):
            assert row[key]["n"] == keystrokes, key
            assert 0 < row[key]["p50"] <= row[key]["p95"], key
        # The total less the parse: below the total by about the parse (p50s of different
        # keystrokes need not subtract exactly).
        assert row["total_without_parse_ms"]["p50"] < row["total_ms"]["p50"]
        assert row["total_without_parse_ms"]["p95"] <= row["total_ms"]["p95"]  # sample by sample below
        assert row["stages_ms"][PARSE_STAGE]["p50"] > 0


def test_target_verdict_has_the_parse_and_the_rest_apart():
    from dglsp.bench.overhead import _target

    def row(lines: int, total: float, parse: float) -> dict:
        stages = {name: {"p50": 0.01} for name in ("jsonrpc", "positions", "document", "carve", "prompt")}
        stages |= {"postprocess": {"p50": 0.01}, PARSE_STAGE: {"p50": parse}}
        return {
            "language": "python",
            "lines": lines,
            "stages_ms": stages,
            "total_ms": {"p50": total},
            "total_without_parse_ms": {"p50": total - parse},
        }

    (verdict,) = _target([row(100, 0.5, 0.1), row(10_000, 4.0, 3.0)])["by_language"]
    assert verdict["met"] is False and verdict["met_without_parse"] is True
    assert verdict["p50_parse_ms_at_10000_lines"] == 3.0
    assert verdict["p50_total_without_parse_ms_at_10000_lines"] == 1.0
    assert verdict["stages_growing_with_size"] == [PARSE_STAGE]
    assert verdict["growth_only_from_incremental_parse"]


def test_render_shows_superseded_and_the_parse_apart(report):
    text = render_overhead(report)
    header = next(line for line in text.splitlines() if line.startswith("| language"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert {"superseded", "without parse", "parse alone: tree-sitter / dglsp"} <= set(columns)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()]
    for result in report["results"]:
        cells = next(r for r in rows if r[:2] == ["python", str(result["lines"])])
        # The table rounds to 2 decimals (3 significant digits below 0.01 ms).
        superseded = result["superseded_keystroke_ms"]["p50"]
        assert float(cells[columns.index("superseded")]) == pytest.approx(superseded, abs=0.005)
        without = result["total_without_parse_ms"]["p50"]
        assert float(cells[columns.index("without parse")]) == pytest.approx(without, abs=0.005)
        alone = result["tree_sitter_alone_ms"]["p50"], result["document_parse_alone_ms"]["p50"]
        assert cells[columns.index("parse alone: tree-sitter / dglsp")] == f"{alone[0]:.3f} / {alone[1]:.3f}"


def test_render_reads_a_report_written_before_the_new_figures(report):
    old = {**report, "results": [dict(r) for r in report["results"]]}
    for row in old["results"]:
        for key in ("total_without_parse_ms", "tree_sitter_alone_ms", "document_parse_alone_ms"):
            del row[key]
    assert "| python" in render_overhead(old)
