"""Which setting changes rebuild the engine."""

from __future__ import annotations

from dataclasses import replace

from dglsp.config import Settings
from dglsp.server.engine_host import needs_restart


def test_model_device_engine_experts_and_dtype_changes_restart_it():
    base = Settings()
    assert needs_restart(base, replace(base, experts="eager"))  # the model is loaded with it
    assert needs_restart(base, replace(base, dtype="fp8"))  # so are its weights' precision
    assert needs_restart(base, replace(base, model="/models/other"))
    assert needs_restart(base, replace(base, device="cpu"))
    assert needs_restart(base, replace(base, engine="http://127.0.0.1:8000/v1"))


def test_per_request_settings_apply_without_a_restart():
    base = Settings()
    assert not needs_restart(
        base, replace(base, steps=8, entropy_bound=0.3, strategy="pinned", debounce_ms=0)
    )
