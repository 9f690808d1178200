"""Assemble the Dagster definitions of every domain; `dagster dev` and `csw run` load this module."""

import dagster as dg

from orchestration.assets.dbt import defs as dbt_defs
from orchestration.assets.ml import defs as ml_defs
from orchestration.assets.raw import defs as raw_defs
from orchestration.checks.quality import defs as quality_defs

defs = dg.Definitions.merge(raw_defs, quality_defs, dbt_defs, ml_defs)
