import sys

from airtable_pg.cli import main

sys.exit(main())
