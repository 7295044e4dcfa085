"""The command line: typer commands and shared options. No check logic lives here."""
