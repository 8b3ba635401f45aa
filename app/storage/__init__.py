"""What the service keeps, and the only code that reads or writes the database: the tables
(models.py, migrated by migrations/ through Alembic), the engine and sessions (db.py), and the
operations on them: letters recorded and counted (letters.py, counts.py, offline.py), the
campaign steered (operations.py), write-a-thons (events.py) and staff accounts (staff.py).
The tables hold counts and staff accounts, never a supporter's name, address or message."""
