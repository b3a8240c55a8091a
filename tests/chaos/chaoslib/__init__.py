"""Library of the real-process chaos harness (tests/chaos/run, see tests/chaos/README.md)."""
