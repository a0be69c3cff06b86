"""Declared environments: an admin declares each one, protected or not, before anything is
deployed to it; the upgrade adopts the ones earlier deployments used. Every change an entry."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from app.ledger.entry import Draft, Receipt
from app.services.ledger import LedgerWriter
from app.services.tracking import Conflict
from app.storage import environments as store

SYSTEM = "system"


def how_to_declare(name: str) -> str:
    return (f"an admin declares it with POST /api/v1/environments {{\"name\": \"{name}\", "
            f"\"protected\": true}} or `mlaudit environments declare {name} --protected` "
            "(--unprotected for one that needs no approval)")


def declare(writer: LedgerWriter, actor: str, name: str, protected: bool,
            reason: str | None) -> tuple[store.EnvironmentRow, Receipt | None]:
    """Declare an environment, or change its protection; the same declaration again writes
    nothing (receipt None)."""
    writer.lock()
    current = store.get_environment(writer.conn, name)
    if current is None:
        clash = store.same_but_case(writer.conn, name)
        if clash is not None:
            raise Conflict(f"environment {clash!r} is already declared; {name!r} differs from "
                           "it only in letter case: deploy to it under its declared name")
        [receipt] = writer.append([Draft("environment.declared", actor, {"environment": name},
                                         {"protected": protected})])
    elif current.protected == protected:
        return current, None
    else:
        [receipt] = writer.append([Draft(
            "environment.protection_set", actor, {"environment": name},
            {"protected": protected, "previous": current.protected, "reason": reason})])
    row = store.get_environment(writer.conn, name)
    assert row is not None  # the entry's reducer made it
    return row, receipt


def deployable(conn: psycopg.Connection, name: str) -> store.EnvironmentRow:
    """The declared environment a deployment names; Conflict saying how to declare it."""
    found = store.get_environment(conn, name)
    if found is None:
        raise Conflict(f"environment {name!r} is not declared: {how_to_declare(name)}")
    return found


def legacy_protected(name: str, prefixes: Sequence[str]) -> bool:
    """The rule before environments were declared: a name starting with a protected prefix,
    in any letter case ("PROD-eu" as "prod-eu"). Used only to adopt those environments."""
    folded = name.casefold()
    return any(folded.startswith(prefix.casefold()) for prefix in prefixes)


def adopt_in_use(writer: LedgerWriter, prefixes: Sequence[str]) -> list[Receipt]:
    """Declare, as `environment.adopted` entries, the environments deployments recorded before
    environments were declared objects; the old prefix rule decides their protection. Writes
    nothing when there are none (every start after the first)."""
    if not store.undeclared_in_use(writer.conn):
        return []
    writer.lock()
    rule = ("protected when the name starts with one of "
            f"{', '.join(repr(p) for p in prefixes) or 'no prefix'} in any letter case "
            "(MLAUDIT_PROTECTED_ENVIRONMENTS before environments were declared)")
    drafts = [Draft("environment.adopted", SYSTEM, {"environment": name},
                    {"protected": legacy_protected(name, prefixes), "rule": rule})
              for name in store.undeclared_in_use(writer.conn)]
    return writer.append(drafts) if drafts else []


def adopt_after_replay(conn: psycopg.Connection, prefixes: Sequence[str]) -> int:
    """adopt_in_use in the caller's transaction, right after a replay (the upgrade's, or a
    rebuild's of a ledger written before environments were declared): the deferred guards
    then find every environment the replayed deployments name. Returns how many."""
    writer = LedgerWriter(conn)
    adopted = adopt_in_use(writer, prefixes)
    writer.flush()
    return len(adopted)
