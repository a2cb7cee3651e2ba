"""The thin Dagster layer: assets, jobs and resources wired from the sync spec (no sync logic lives here)."""
