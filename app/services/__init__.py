"""Use cases on an explicit connection: one transaction = facts plus their ledger entries."""
