"""Output schemas of /api/v1, by concern: they serialise the responses and document them."""
