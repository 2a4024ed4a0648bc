"""The completion pipeline: carve -> prompt -> engine -> postprocess.

The scripted engine pins what the model says, so the pipeline's own logic is checked
exactly; one test runs the whole path on the real tiny DiffusionGemma.
"""

from __future__ import annotations

import pytest

from dglsp.config import Settings
from dglsp.documents import Document
from dglsp.engine import EngineError, create_engine
from dglsp.pipeline import Pipeline
from dglsp.testing.scripted_engine import Rule, Script, ScriptedEngine

SOURCE = """import math


def area(radius):
    r2 = radius * radius
    return math.pi * r2


def circumference(radius):
    ret
"""


def _pipeline(*rules: Rule, **settings) -> tuple[Pipeline, ScriptedEngine]:
    engine = ScriptedEngine(Script(rules=rules, steps=4))
    return Pipeline(engine, Settings(model="scripted", **settings)), engine


def _snapshot(text: str = SOURCE, language: str = "python"):
    return Document("file:///t.py", language, 1, text).snapshot()


async def test_partly_typed_word_is_replaced_whole():
    pipeline, engine = _pipeline(Rule(when="circumference", middle="urn 2 * math.pi * radius"))
    cursor = SOURCE.index("ret\n") + len("ret")
    completion = await pipeline.complete(_snapshot(), cursor)
    assert completion.text == "return 2 * math.pi * radius"
    assert completion.start == cursor - 3 and completion.end == cursor
    # What the model saw: the enclosing function before the cursor, the import as context.
    prompt = engine.requests[-1].prompt
    assert "def circumference(radius):\n    ret" in prompt
    assert "import math" in prompt
    assert "r2 = radius * radius" not in prompt  # another function: not carved in


async def test_drafts_arrive_in_order_and_end_with_the_final_text():
    pipeline, _ = _pipeline(Rule(middle="urn 2 * math.pi * radius"))
    cursor = SOURCE.index("ret\n") + 3
    drafts = []
    completion = await pipeline.complete(_snapshot(), cursor, on_draft=drafts.append)
    assert [d.step for d in drafts] == sorted(d.step for d in drafts)
    assert drafts[-1].final and not any(d.final for d in drafts[:-1])
    assert drafts[-1].text == completion.text
    assert all(d.start == completion.start and d.end == completion.end for d in drafts)
    assert len({d.text for d in drafts}) > 1


async def test_final_text_drops_what_already_follows():
    text = "def f(a, b):\n    return max(\n"
    cursor = text.index("max(") + 4
    text = text[:cursor] + ")" + text[cursor:]  # the editor auto-closed the bracket
    pipeline, _ = _pipeline(Rule(middle="a, b)"))
    completion = await pipeline.complete(_snapshot(text), cursor)
    assert completion.text == "a, b"


async def test_document_line_endings_come_back():
    text = "def f(x):\r\n    \r\n"
    cursor = text.index("    \r\n") + 4
    pipeline, engine = _pipeline(Rule(middle="y = x\n    return y"))
    completion = await pipeline.complete(_snapshot(text), cursor)
    assert completion.text == "y = x\r\n    return y"
    assert "\r" not in engine.requests[-1].prompt


async def test_unknown_language_gets_a_window_not_an_error():
    text = "".join(f"local v{i} = {i}\n" for i in range(200))
    cursor = text.index("local v100")
    pipeline, _ = _pipeline(Rule(middle="x"), window_lines=10)
    context = pipeline.context(_snapshot(text, "lua"), cursor)
    assert context.region.kind == "window"
    assert context.to_json()["span"]["end"][0] - context.to_json()["span"]["start"][0] < 12
    completion = await pipeline.complete(_snapshot(text, "lua"), cursor)
    assert completion.text == "x"


def test_context_json_has_the_documented_keys():
    pipeline, _ = _pipeline()
    cursor = SOURCE.index("ret\n") + 3
    data = pipeline.context(_snapshot(), cursor).to_json()
    assert {"language", "kind", "span", "prefix_tokens", "suffix_tokens", "canvas_length"} <= set(data)
    assert data["language"] == "python" and data["kind"] == "function"
    # 1-based lines and columns: the function starts on line 9, column 1.
    assert data["span"] == {"start": [9, 1], "end": [10, 8]}
    assert data["cursor"] == [10, 8]


async def test_engine_failure_is_an_engine_error():
    pipeline, _ = _pipeline(Rule(error="The engine failed: scripted"))
    with pytest.raises(EngineError, match="scripted"):
        await pipeline.complete(_snapshot(), 10)


async def test_whole_path_on_the_real_tiny_model(tiny_model_dir):
    settings = Settings(engine="inprocess", model=str(tiny_model_dir), steps=3, seed=1)
    pipeline = Pipeline(create_engine(settings), settings)
    snapshot = _snapshot()
    cursor = SOURCE.index("ret\n") + 3
    drafts = []
    first = await pipeline.complete(snapshot, cursor, on_draft=drafts.append)
    again = await pipeline.complete(snapshot, cursor)
    assert first.steps == 3 and drafts[-1].final
    assert first.text == again.text  # same seed, same text
    assert first.start == cursor - 3
    assert set(first.timings) >= {"context", "engine", "postprocess"}
    # The real tokenizer counted the prompt, and it chose the FIM template.
    context = pipeline.context(snapshot, cursor).to_json()
    assert context["template"] == "fim" and not context["tokens_estimated"]


async def test_pinned_strategy_moves_the_suffix_from_the_prompt_to_the_canvas():
    seen = []

    class Capturing(ScriptedEngine):
        def infill(self, request, cancel=None):
            seen.append(request)
            return super().infill(request, cancel)

    engine = Capturing(Script(rules=(Rule(middle="radius ** 2"),), steps=2))
    pipeline = Pipeline(engine, Settings(model="scripted", strategy="pinned"))
    cursor = SOURCE.index("r2 = ") + len("r2 = ")
    context = pipeline.context(_snapshot(), cursor)
    assert context.to_json()["strategy"] == "pinned"
    completion = await pipeline.complete(_snapshot(), cursor)
    request = seen[-1]
    assert request.strategy == "pinned"
    # The prompt reads up to the cursor; the suffix is what gets pinned after the middle.
    assert request.prompt.endswith("def area(radius):\n    r2 = ")
    assert "return math.pi * r2" not in request.prompt
    assert request.pinned_suffix == context.prompt.suffix == "radius * radius\n    return math.pi * r2"
    assert completion.text == "radius ** 2"


async def test_the_prompts_ids_go_to_the_engine_and_give_the_same_text(tiny_model_dir):
    """The pipeline encodes the prompt once and hands the ids over; the engine then produces
    what it produces from the text alone (same seed, same drafts)."""
    from dglsp.engine import InfillRequest

    settings = Settings(engine="inprocess", model=str(tiny_model_dir), steps=3, seed=5)
    engine = create_engine(settings)
    seen = []
    infill = engine.infill

    def capturing(request, cancel=None):
        seen.append(request)
        return infill(request, cancel)

    engine.infill = capturing  # type: ignore[method-assign]
    pipeline = Pipeline(engine, settings)
    cursor = SOURCE.index("ret\n") + 3
    await pipeline.complete(_snapshot(), cursor)
    request = seen[-1]
    assert request.prompt_ids and list(request.prompt_ids) == engine.tokenizer.encode(request.prompt)
    assert pipeline.context(_snapshot(), cursor).prompt.total_tokens == len(request.prompt_ids)

    async def drafts(request: InfillRequest) -> list[tuple[int, str]]:
        return [(draft.step, draft.text) async for draft in infill(request)]

    with_ids = await drafts(request)
    without = await drafts(InfillRequest(request.prompt, request.canvas_length, steps=3, seed=5))
    assert with_ids == without and len(with_ids) == 3
    # The ids are what the engine uses: other ids, other text.
    other = await drafts(
        InfillRequest(
            request.prompt, request.canvas_length, steps=3, seed=5, prompt_ids=request.prompt_ids[:-4]
        )
    )
    assert other != with_ids
    await engine.close()
