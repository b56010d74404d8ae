"""The mutation check's catalogue: small, plausible bugs and the tests that must catch each (`scripts/mutants.py`)."""
