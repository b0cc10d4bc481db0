"""`faust -A stream_processor.app worker -l info`: the app built from the CREDIT_* environment."""

from __future__ import annotations

from core.settings import Settings
from stream_processor.faust_app import build_app

app = build_app(Settings())
