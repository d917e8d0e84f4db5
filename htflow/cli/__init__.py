"""htflow command line: one module per command group."""
