"""The ledger core's one error hierarchy; adapters translate these, nothing else leaks."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the ledger core raises on purpose."""


class EntryError(LedgerError, ValueError):
    """An entry draft cannot be canonicalised (floats, bad names, non-JSON values)."""


class KeyFileError(LedgerError):
    """A signing key file is missing, unreadable, corrupt or too permissive."""
