"""The baseline for `stickyctl decode`: a one-command typer app that base64-decodes its argument."""

import base64

import typer

app = typer.Typer()


@app.command()
def decode(value: str) -> None:
    """Decode a base64 value."""
    typer.echo(base64.b64decode(value).decode())


if __name__ == "__main__":
    app()
