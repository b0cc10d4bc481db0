"""Open the Feast store of this repository with addresses taken from the settings."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from credit_pipeline.settings import FEATURE_REPO_DIR, Settings

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)


def export_feast_env(settings: Settings) -> None:
    """Export the variables feature_store.yaml expands (Feast reads only its yaml)."""
    os.environ.update(settings.feast_env())


def open_store(settings: Settings) -> FeatureStore:
    """A FeatureStore on this repository; build it once per process and share it."""
    # Imported here: `import feast` costs ~5 s, and commands that never touch Feast skip it.
    from feast import FeatureStore

    export_feast_env(settings)
    return FeatureStore(repo_path=str(FEATURE_REPO_DIR))


def apply_definitions(store: FeatureStore) -> None:
    """Register every entity, source, view and service of the contract (idempotent)."""
    from feature_repo.contract import FEAST_OBJECTS

    store.apply(list(FEAST_OBJECTS))
    log.info("applied %d Feast objects to project %s", len(FEAST_OBJECTS), store.project)
