"""Metrics computed once from the state schema, and alert conditions defined once (rendered as the Dagster
alerter and as Prometheus rules). No Dagster imports here: ``defs.alerts`` wires the alerter into sensors."""
