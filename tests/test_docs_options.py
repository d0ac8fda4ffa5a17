"""The documentation names every option of every command, and no option a command does not have
(as sqlite-utils checks its CLI reference).

docs/commands.md (and docs/maintenance.md for the maintenance commands) has one section per
command, headed "## `rebalance NAME`", listing each option as `--name`. The README's short command
sections may mention fewer options, never one the command lacks. Adding, renaming or removing an
option without the docs makes a test here fail."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rebalance.cli import cli

REPO = Path(__file__).resolve().parent.parent
COMMANDS_DOCS = (REPO / "docs" / "commands.md", REPO / "docs" / "maintenance.md")
README = REPO / "README.md"
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def listed_commands() -> list[str]:
    """The command names `rebalance --help` prints under "Commands:"."""
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    lines = result.output.split("Commands:", 1)[1].splitlines()
    return [line.split()[0] for line in lines if line.strip()]


def visible_options(name: str) -> set[str]:
    """Every long option of the command that `--help` shows, `--help` itself left out."""
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, name
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names.update(o for o in param.opts + param.secondary_opts if o.startswith("--"))
    return names - {"--help"}


def sections(text: str, level: str) -> dict[str, str]:
    """Command name → the text of its section ("## `rebalance NAME`" up to the next heading of the
    same or a higher level)."""
    heading = re.compile(rf"^{level} `rebalance ([a-z-]+)`\s*$", re.MULTILINE)
    found = list(heading.finditer(text))
    result = {}
    for match in found:
        end = re.compile(rf"^#{{1,{len(level)}}} ", re.MULTILINE).search(text, match.end())
        result[match.group(1)] = text[match.end(): end.start() if end else len(text)]
    return result


def mentioned(section: str) -> set[str]:
    return set(OPTION.findall(section)) - {"--help"}


COMMAND_NAMES = listed_commands()
REFERENCE = {name: text for doc in COMMANDS_DOCS
             for name, text in sections(doc.read_text(encoding="utf-8"), "##").items()}
README_SECTIONS = sections(README.read_text(encoding="utf-8"), "###")


def test_the_help_lists_commands() -> None:
    assert {"plan", "apply", "run"} <= set(COMMAND_NAMES)


def test_every_listed_command_has_a_reference_section() -> None:
    assert sorted(set(COMMAND_NAMES) - set(REFERENCE)) == []
    assert sorted(set(REFERENCE) - set(COMMAND_NAMES)) == []


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_reference_documents_every_option(name: str) -> None:
    documented = set(re.findall(r"`(--[a-z][a-z0-9-]*)", REFERENCE.get(name, "")))
    undocumented = visible_options(name) - documented
    assert sorted(undocumented) == [], f"docs/commands.md or maintenance.md, rebalance {name}: document these options"


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_reference_names_no_option_the_command_lacks(name: str) -> None:
    stale = mentioned(REFERENCE.get(name, "")) - visible_options(name)
    assert sorted(stale) == [], f"docs/commands.md or maintenance.md, rebalance {name}: no such options"


def test_every_listed_command_has_a_readme_section() -> None:
    assert sorted(set(COMMAND_NAMES) - set(README_SECTIONS)) == []


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_readme_names_no_option_the_command_lacks(name: str) -> None:
    stale = mentioned(README_SECTIONS.get(name, "")) - visible_options(name)
    assert sorted(stale) == [], f"README.md, rebalance {name}: no such options"
