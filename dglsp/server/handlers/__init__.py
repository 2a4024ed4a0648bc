"""One module per LSP message or small group of messages; app.py routes to them."""
