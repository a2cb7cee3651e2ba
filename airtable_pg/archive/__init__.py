"""The attachment archive: a copy of every attachment the mirror holds, kept after Airtable's URLs expire.

Plain Python (no Dagster): ``airtable-pg archive …`` and the Dagster assets both drive an :class:`Archiver` made by
``Runtime.archiver()``. It reads the mirror (never writes it), so copying runs beside a sync without slowing it;
its only Airtable API calls (re-reading a record whose URL expired) take slots from the shared per-base bucket.
"""
