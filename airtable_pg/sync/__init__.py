"""The inbound sync engine (no Dagster imports): full scans, polls, and the `airtable-pg sync` command."""
