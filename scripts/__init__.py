"""Helper scripts for installing, deploying and packaging DualStream (used by the Makefile and tests)."""
