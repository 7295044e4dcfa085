"""The command classes every stickyctl command uses, for what `--help` shows.

typer (0.29+) shows a type placeholder for every parameter: ``--isolated <bool>`` reads as if the
flag took a value (``--isolated true`` is an error), ``CODE <str>`` repeats what the metavar says,
and the usage line spells a required argument ``{CODE}``. Here a flag shows no value, an argument
shows its metavar alone (``stickyctl explain [OPTIONS] CODE``, as click and kubectl write it), and
every other parameter names its value in its own declaration (``SECONDS``, ``FILE``):
tests/test_help.py keeps it so.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup


class Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar (CODE, URL, IP:PORT) says what the value is

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        return [f"{name}..." if self.nargs != 1 else name]


def _tidy(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif type(param) is TyperArgument:
            param.__class__ = Argument
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        _tidy(self.params)
        return list(super().collect_usage_pieces(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))
