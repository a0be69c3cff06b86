"""mlaudit's pure code as the standalone verifier packs it (the service's app/ starts a server)."""
