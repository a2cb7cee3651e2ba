"""airtable_pg: PostgreSQL in front of an Airtable base, as a Dagster code location."""

__version__ = "0.1.0"
