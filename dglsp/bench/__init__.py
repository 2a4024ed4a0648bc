"""`dglsp bench`: measurements behind docs/benchmarks.md.

- `engine_bench`: the engine through the server's own code (InProcessEngine and Pipeline),
  against the physical floor (`floor`) and an autoregressive model of the same geometry
  (`autoregressive`, `baseline`), with models from `engines` / `models`.
- `overhead`: the server's own time per keystroke, the engine excluded.
- `report` / `render`: the JSON report with its provenance (`environment`) and its table.

Nothing here is imported by the server: torch, transformers and pygls load only when a bench runs.
"""
