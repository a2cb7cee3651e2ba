"""The Airtable side: client over pyairtable, the shared rate limiter, type mapping and cell values."""
