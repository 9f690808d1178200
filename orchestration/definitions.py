"""Assemble the Dagster definitions of every domain; `dagster dev` and `csw run` load this module."""

import dagster as dg

from orchestration import jobs
from orchestration.assets import dbt, ml, raw
from orchestration.checks import quality

defs = dg.Definitions.merge(raw.defs, quality.defs, dbt.defs, ml.defs, jobs.defs)
