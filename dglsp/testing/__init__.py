"""Test support shipped with dglsp: a tiny random DiffusionGemma and a scripted engine.

Both are useful outside dglsp's own tests: editor-integration tests and bug reports can use
`python -m dglsp.testing.tiny_model DIR` and then `--model DIR` everywhere.
"""
