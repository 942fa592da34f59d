"""Widgets of the terminal UI that Textual does not have: the status bar and the grid."""
