"""Replay: a logged decision recomputed from its logged inputs, with any model version.

With the version that made the decision, the probability must come back bit for bit: the
record holds the application and every feature value as served (JSON floats read back exact),
and the model's scorer is deterministic. With another version, the difference is the answer
to "what would that model have decided".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.decision_log import LoggedDecision
from scoring_api.service.model import ServedModel


class NotReplayable(ValueError):
    """The record lacks an input the replaying model reads."""


@dataclass(frozen=True, slots=True)
class Replay:
    """One decision as logged and as recomputed."""

    request_id: str
    decision_id: str
    logged_version: str
    version: str
    logged_p: float
    p_default: float | None
    logged_decision: str
    decision: str | None
    error: str | None = None

    @property
    def identical(self) -> bool:
        """Same probability to the last bit, and so the same decision."""
        return self.error is None and self.p_default == self.logged_p

    @property
    def decision_changed(self) -> bool:
        return self.decision is not None and self.decision != self.logged_decision


def model_row(model: ServedModel, record: dict[str, Any]) -> list[object]:
    """The model's input row from a logged record, built as serving builds it."""
    values = {view: served["values"] for view, served in record["features"].items()}
    try:
        return model.row(record["application"], values)
    except KeyError as exc:
        raise NotReplayable(
            f"model {model.version} reads {exc.args[0]!r}, which this decision did not log"
        ) from None


class Replayer:
    """Replays records with their own model version, or with one `version` for all."""

    def __init__(self, model_dir: Path, version: str | None = None) -> None:
        self._model_dir = model_dir
        self._version = version
        self._models: dict[str, ServedModel] = {}

    def model(self, version: str) -> ServedModel:
        if version not in self._models:
            self._models[version] = ServedModel.load(self._model_dir, version)
        return self._models[version]

    def replay(self, logged: LoggedDecision) -> Replay:
        record = logged.record
        model = self.model(self._version or logged.model_version)
        p: float | None = None
        error: str | None = None
        try:
            # The API's own path (explain), so the same arithmetic in the same order.
            p = model.explain(model_row(model, record)).p_default
        except NotReplayable as exc:
            error = str(exc)
        return Replay(
            request_id=logged.request_id,
            decision_id=logged.decision_id,
            logged_version=logged.model_version,
            version=model.version,
            logged_p=logged.p_default,
            p_default=p,
            logged_decision=logged.decision,
            decision=None if p is None else ("approved" if p < model.threshold else "rejected"),
            error=error,
        )

    def replay_all(self, decisions: Iterable[LoggedDecision]) -> list[Replay]:
        return [self.replay(d) for d in decisions]
