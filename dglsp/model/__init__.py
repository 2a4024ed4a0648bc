"""The diffusion runtime: finding and loading DiffusionGemma, its tokenizer, the denoising loop.

This package imports nothing from the rest of dglsp except the engine's error types, and
nothing about editors: it is the bottom of the stack.
"""
