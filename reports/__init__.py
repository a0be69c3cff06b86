"""PDF audit reports rendered from plain evidence data; never imports app/ (to be filled in)."""
