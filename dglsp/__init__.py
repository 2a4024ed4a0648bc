"""dglsp: inline code completions by infilling the code at the cursor with DiffusionGemma."""

__version__ = "0.1.0"
