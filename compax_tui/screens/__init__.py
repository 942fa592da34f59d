"""The screens of the terminal UI: one per task, each a thin layer over ``sync/``."""
