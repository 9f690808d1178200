"""Score drivers: per-row contributions of each input column to a logistic regression's log-odds.

A logistic regression fitted on the same training rows as the scoring model gives, for transformed
column j, coefficient_j × (value_j − training mean_j): how much that column moves the row's log-odds
away from an average training row. Transformed columns that come from one input column (its
missing-value indicator, each one-hot category) are summed back into that input column. The drivers of
a score are the three input columns with the largest contributions (positive means the column raises
the churn risk). This explains the logistic model exactly and the gradient-boosted model only
approximately: it names the linear tendencies, not the interactions the boosted trees found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

MISSING_INDICATOR_PREFIX = "missingindicator_"
DRIVER_COUNT = 3


@dataclass
class DriverExplainer:
    """A fitted logistic pipeline, the training mean of its transformed matrix and each column's source."""

    pipeline: Pipeline
    reference: np.ndarray
    sources: list[str]

    @classmethod
    def fit(cls, pipeline: Pipeline, features: pd.DataFrame, labels: np.ndarray) -> DriverExplainer:
        pipeline.fit(features, labels)
        transformed = pipeline.named_steps["preprocess"].transform(features)
        names = pipeline.named_steps["preprocess"].get_feature_names_out()
        return cls(pipeline, transformed.mean(axis=0), source_columns(names, list(features.columns)))

    def contributions(self, features: pd.DataFrame) -> pd.DataFrame:
        """Return one row per input row and one column per input column: its log-odds contribution."""
        transformed = self.pipeline.named_steps["preprocess"].transform(features)
        coefficients = self.pipeline.named_steps["classifier"].coef_[0]
        per_column = (transformed - self.reference) * coefficients
        grouped = pd.DataFrame(per_column, columns=self.sources, index=features.index)
        return grouped.T.groupby(level=0, sort=False).sum().T

    def top_drivers(self, features: pd.DataFrame, count: int = DRIVER_COUNT) -> pd.DataFrame:
        """Return driver_1..driver_n and their contributions, largest contribution first."""
        contributions = self.contributions(features)
        values = contributions.to_numpy()
        names = np.array(contributions.columns)
        # Stable sort on the negated values keeps column order among equal contributions.
        order = np.argsort(-values, axis=1, kind="stable")[:, :count]
        result = pd.DataFrame(index=features.index)
        for rank in range(count):
            result[f"driver_{rank + 1}"] = names[order[:, rank]]
            result[f"driver_{rank + 1}_contribution"] = np.take_along_axis(values, order[:, [rank]], axis=1)[:, 0]
        return result


def source_columns(transformed_names: np.ndarray, inputs: list[str]) -> list[str]:
    """Map each ColumnTransformer output name ('numeric__x', 'categorical__plan_tier_growth') to its input."""
    by_length = sorted(inputs, key=len, reverse=True)
    sources = []
    for name in transformed_names:
        bare = str(name).split("__", 1)[1]
        bare = bare.removeprefix(MISSING_INDICATOR_PREFIX)
        match = next((c for c in by_length if bare == c or bare.startswith(f"{c}_")), None)
        if match is None:
            raise ValueError(f"cannot map the transformed column {name!r} back to an input column")
        sources.append(match)
    return sources
