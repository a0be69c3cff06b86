"""mlaudit-verify: check mlaudit PDF reports and ledger exports offline."""

__version__ = "0.1.0"
