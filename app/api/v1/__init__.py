"""The /api/v1 adapter: mlaudit's own REST API over the services."""
