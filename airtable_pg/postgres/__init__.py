"""The Postgres side: connection (embedded or DATABASE_URL, TLS), tables from the spec, writes, migrations."""
