"""The webhook receiver: Airtable's notification pings in over HTTP, verified, stored in the inbox."""
