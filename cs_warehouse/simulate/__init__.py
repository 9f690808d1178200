"""The demo simulator behind `csw simulate`: a seeded B2B SaaS business written as landing files."""

from cs_warehouse.simulate.simulator import simulate

__all__ = ["simulate"]
