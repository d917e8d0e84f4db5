"""Test harnesses shipped with the package: replay of recorded VASP runs."""
