"""Airtable's Web API served from the Postgres mirror (``airtable-pg api``): an app changes one URL, not its code.

Reads (list, get) are answered from each record's canonical ``fields`` JSON, formulas by :mod:`airtable_formula`
(the engine the sandbox answers with), under tokens airtable_pg issues itself. What the mirror cannot know (view
filters, comment counts, locale-formatted strings, last-modified times) is passed through to Airtable, or refused
with a clear Airtable-style 422 without an Airtable token, rather than answered differently; see docs/api.md.
"""
