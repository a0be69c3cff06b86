"""The README's worked example cannot drift from the CLI: every `mlaudit` command in it parses.

(The example itself was run against a live server when it was written; this keeps its commands
and options in step with app/cli.py and app/client/registry.py as they change.)
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from app import cli

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## A worked example: from a training run to a verified report"


def example_commands() -> list[list[str]]:
    text = README.read_text()
    section = text[text.index(SECTION):]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if not re.search(r"\bmlaudit\b", line):  # JSON, YAML, Python: not shell words
                continue
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            if "mlaudit" not in tokens:
                continue
            rest = tokens[tokens.index("mlaudit") + 1:]
            ends = [i for i, token in enumerate(rest) if set(token) <= set("|&;()<>")]
            commands.append(rest[:ends[0]] if ends else rest)
    return commands


def test_every_mlaudit_command_of_the_worked_example_parses() -> None:
    commands = example_commands()
    assert len(commands) >= 20 and ["verify"] in commands
    assert {tuple(c[:2]) for c in commands} >= {
        ("token", "create"), ("models", "request-promotion"), ("models", "withdraw"),
        ("models", "approve"), ("deployments", "list"), ("models", "deployed"),
        ("report", "model"), ("verify-report", "credit-scorecard.pdf")}
    for command in commands:
        args = cli.parser().parse_args(command)
        assert callable(args.func), command
