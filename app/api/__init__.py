"""HTTP adapters: /api/v1 routes, schemas, auth and problem+json errors."""
