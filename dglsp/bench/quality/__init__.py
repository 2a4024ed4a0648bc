"""`dglsp bench quality`: how well a model infills held-out code, against a floor and a baseline.

- cases.py: holes cut out of held-out files (single line, multi-line span, function body),
  deterministic for a seed.
- metrics.py: exact match, edit similarity and syntax validity of one completion.
- causal_engine.py: the autoregressive baseline behind dglsp's Engine interface, so its
  answers go through the same Pipeline (prompt and post-processing) as the diffusion model's.
- runners.py: the rows of the table (the model at several step counts and infill strategies,
  random weights, the causal baseline) and the loop that completes every case with each.
- summary.py, render.py: figures per runner, kind and language; the readable report.
"""
