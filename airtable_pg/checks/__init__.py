"""Cutover gates: plain functions that compare Airtable, the spec and the Postgres mirror, and return results.

No Dagster here: ``defs/checks.py`` wires these as asset checks, ``cli/checks.py`` runs them from a terminal,
and both store each result (``postgres.check_results``) for ``airtable-pg cutover status``.

=====================  =========================================================================  ========
check                  fails when                                                                 severity
=====================  =========================================================================  ========
``reconcile_counts``   live records in Airtable ≠ live rows in Postgres (ids missing either side)  error
``reconcile_sample``   a sampled record's cell differs: Airtable vs typed column vs ``fields``    error
``quality``            pandera schema from the spec + hand rules (e-mail, dates, ratings, unique)  per rule
``links``              a link points at no live row, or two inverse link fields disagree         error
``freshness``          the last applied change / successful sync is older than the table's bound  error
``schema_drift``       Airtable's fields ≠ the spec ≠ the mirror's columns                        error
=====================  =========================================================================  ========
"""
