"""Reports: tables, text, plots and the HTML page (the only layer that imports pandas/matplotlib)."""

from archsim.report.pages import write_run_report, write_sweep_report, write_train_report
from archsim.report.tables import read_results, write_results, write_table
from archsim.report.text import plan_text, run_text

__all__ = ["plan_text", "run_text", "read_results", "write_results", "write_run_report", "write_sweep_report",
           "write_table", "write_train_report"]
