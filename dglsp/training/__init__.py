"""Training DiffusionGemma-architecture code models on examples dglsp itself would send.

- data.py: collecting permissive source files offline (with a license manifest) and the
  deterministic train / held-out split by file; licenses.py reads distribution licenses.
- tokenizer.py: a byte-level BPE with the FIM special tokens, trained on the training split.
- examples.py: holes cut out of files, prompted through dglsp's own Pipeline.context.
- batch.py, objective.py: padded batches and the uniform-noise block-diffusion loss.
- loop.py, checkpoint.py, progress.py, presets.py: `dglsp train` itself.

Only the model runtime's public pieces, the prompt pipeline and carving are used from the rest of
dglsp; nothing here is imported by the server.
"""
