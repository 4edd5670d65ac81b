"""archsim: a cycle-level simulator for analog in-memory-computing accelerators."""

__version__ = "0.1.0"
