"""Tracking domain logic that needs no database: search grammar, group disparity figures."""
