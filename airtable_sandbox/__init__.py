"""An emulator of the Airtable Web API, with Airtable's real limits, for offline runs and tests."""
