"""Reports: tables and text for people (the only layer that imports pandas/matplotlib)."""

from archsim.report.tables import write_table
from archsim.report.text import plan_text, run_text

__all__ = ["plan_text", "run_text", "write_table"]
