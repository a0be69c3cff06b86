"""All SQL, one module per aggregate; bound parameters only."""
