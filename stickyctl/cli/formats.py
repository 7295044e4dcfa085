"""`-o FORMAT` of the commands that print one document (explain, checks, decode, encode).

One vocabulary of formats; each command's option accepts the part of it that it prints, as a
``Literal`` of these members, so typer's own check names only what that command takes
("'xml' is not one of 'table', 'json', 'yaml'"). `check` has a wider set of renderers of its own
(stickyctl.report.render.FORMATS).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from stickyctl.environment import Environment


class OutputFormat(str, Enum):
    TABLE = "table"
    """Rows for a person (a list of things: checks, decoded values)."""
    TEXT = "text"
    """Prose or one value for a person (explain, encode)."""
    JSON = "json"
    YAML = "yaml"


TableOrDocument = Literal[OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.YAML]
TextOrDocument = Literal[OutputFormat.TEXT, OutputFormat.JSON, OutputFormat.YAML]
DocumentFormat = Literal[OutputFormat.JSON, OutputFormat.YAML]


def write_document(env: Environment, document: Any, fmt: DocumentFormat) -> None:
    """``document`` as JSON or YAML on stdout, byte-stable (stickyctl.report.machine)."""
    from stickyctl.report.machine import to_json, to_yaml

    env.write(to_json(document) if fmt is OutputFormat.JSON else to_yaml(document))
