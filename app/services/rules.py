"""Stricter rules the database adopts once, by a `rules.adopted` entry.

A guard that a newer version makes stricter (protected names compare ignoring case) judges
only the entries after its adoption: history an older version accepted is replayed as it was
accepted, so an upgrade or a rebuild never refuses the past, and the ledger says from which
entry on the rule holds.
"""

from __future__ import annotations

from app.kinds.access import RULES
from app.ledger.entry import Draft, Receipt
from app.services.ledger import LedgerWriter
from app.storage import ledger as store


def ensure_rules(writer: LedgerWriter) -> list[Receipt]:
    """Adopt every rule this version enforces that the database has not adopted yet."""
    writer.lock()
    adopted = store.rules_adopted(writer.conn)
    missing = [rule for rule in RULES if rule not in adopted]
    if not missing:
        return []
    return writer.append([Draft("rules.adopted", "system", {},
                                {"rules": {rule: RULES[rule] for rule in missing}})])
