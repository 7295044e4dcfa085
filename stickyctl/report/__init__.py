"""Renderers, one module per output format. They read a ``CheckReport``; they never run checks."""
