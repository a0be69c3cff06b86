"""PDF audit reports rendered from plain evidence data; never imports app/ (filled in by the reports issue)."""
