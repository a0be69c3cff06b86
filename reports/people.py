"""People as reports print them: the printed name, with the acting token in brackets."""

from __future__ import annotations

__all__ = ["person"]


def person(printed_name: str | None, actor: str) -> str:
    """"Grace Lin (token:grace)"; the actor alone when no printed name is recorded (older
    bundles) or when it is the actor itself."""
    if not printed_name or printed_name == actor:
        return actor
    return f"{printed_name} ({actor})"
