"""The ledger core: canonical bytes, hashes, Merkle proofs, checkpoints, verification (no I/O)."""
