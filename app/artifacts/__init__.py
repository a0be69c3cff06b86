"""Artifact blob storage: content-addressed bytes behind a small interface."""
