"""What the API reads from `Settings` (the project's one settings class), in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings


@dataclass(frozen=True)
class ApiConfig:
    """Settings of one API process; explicit arguments (CLI flags, tests) override Settings."""

    settings: Settings
    model_dir: Path
    model_version: str
    online_timeout_s: float

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        model_dir: Path | None = None,
        model_version: str | None = None,
    ) -> ApiConfig:
        return cls(
            settings=settings,
            model_dir=model_dir or settings.model_path,
            model_version=model_version or settings.model_version,
            online_timeout_s=settings.online_timeout_ms / 1000,
        )
