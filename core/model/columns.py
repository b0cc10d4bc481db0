"""The model's input columns, derived from the contract: loan request fields, then features."""

from __future__ import annotations

from dataclasses import dataclass

from core import contract
from core.contract import LOAN_REQUEST_COLUMNS, VIEWS_BY_NAME, Column, scoring_feature_refs

# The loan table's id and the model's label, as the contract's loan_application tags name them.
LOAN_ID = contract.LOAN_ID
LABEL = contract.LABEL


def split_ref(ref: str) -> tuple[str, str]:
    """`view:feature` -> (view, feature)."""
    view, _, feature = ref.partition(":")
    if not view or not feature:
        raise ValueError(f"feature reference {ref!r} is not of the form view:feature")
    return view, feature


def feature_column(ref: str) -> Column:
    """The column a feature reference becomes in the training frame (the bare feature name)."""
    view, feature = split_ref(ref)
    try:
        contract_view = VIEWS_BY_NAME[view]
    except KeyError:
        raise ValueError(f"feature view {view!r} of {ref!r} is not in the contract") from None
    for column in contract_view.features:
        if column.name == feature:
            return column
    raise ValueError(f"feature {ref!r} is not in the contract's view {view!r}")


@dataclass(frozen=True)
class ModelColumns:
    """What the model reads, in order: request fields, then the features of `feature_refs`."""

    request: tuple[Column, ...]
    feature_refs: tuple[str, ...]

    @classmethod
    def from_contract(cls) -> ModelColumns:
        return cls(LOAN_REQUEST_COLUMNS, tuple(scoring_feature_refs()))

    @classmethod
    def from_names(cls, request_fields: list[str], feature_refs: list[str]) -> ModelColumns:
        """Rebuild from an artifact's metadata, checked against the current contract."""
        by_name = {c.name: c for c in LOAN_REQUEST_COLUMNS}
        unknown = [name for name in request_fields if name not in by_name]
        if unknown:
            raise ValueError(f"request fields {unknown} are not in the contract's loan_application")
        return cls(tuple(by_name[name] for name in request_fields), tuple(feature_refs))

    @property
    def features(self) -> tuple[Column, ...]:
        return tuple(feature_column(ref) for ref in self.feature_refs)

    @property
    def all(self) -> tuple[Column, ...]:
        columns = (*self.request, *self.features)
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            # The frame holds bare feature names; two views sharing a name would collide.
            raise ValueError(f"model columns are not unique: {names}")
        return columns

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.all]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.all if c.kind == "string"]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.all if c.kind != "string"]

    def views(self) -> dict[str, list[str]]:
        """Feature names per view, in reference order."""
        grouped: dict[str, list[str]] = {}
        for ref in self.feature_refs:
            view, feature = split_ref(ref)
            grouped.setdefault(view, []).append(feature)
        return grouped
