"""Reports: tables and text for people (the only layer that imports pandas/matplotlib)."""

from archsim.report.text import plan_text

__all__ = ["plan_text"]
