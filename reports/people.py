"""People as reports print them: the printed name, with the acting token in brackets."""

from __future__ import annotations

__all__ = ["person"]


def person(printed_name: str | None, actor: str) -> str:
    """"Grace Lin (token:grace)"; the actor alone when no printed name is recorded (older
    bundles) or when the printed name is only the token's own name ("token:grace")."""
    token = actor.removeprefix("token:").split(" ", 1)[0]
    if not printed_name or printed_name in (actor, token):
        return actor
    return f"{printed_name} ({actor})"
