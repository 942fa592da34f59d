"""The Compax terminal UI for campus staff, started by ``compax tui``."""
