"""Command implementations of the ``lightsr`` CLI (the only code that prints)."""
