"""The conformance gate (issue 17): client libraries' own test suites, fetched from PyPI at run
time, run directly against a sandbox MariaDB and then through the bridge, compared test by test.
Run it with `make conformance` (or `scripts/conformance`); see docs/clients.md."""
