"""The configuration reference lists exactly the variables the settings module reads."""

from __future__ import annotations

import re

from core.settings import REPO_ROOT, Settings


def test_every_setting_is_documented_and_nothing_else() -> None:
    doc = (REPO_ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `(CREDIT_[A-Z0-9_]+)` \|", doc, flags=re.M))
    expected = {f"CREDIT_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected
