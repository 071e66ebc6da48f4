"""The store: the database and nothing above it.

It owns the connection and its pragmas, the write lock and hand-written SQL (db.py), the peewee
models (models.py), the code tables their CHECK constraints are built from, with each code's
display name (codes.py), the append-only triggers, the schema's version and its migrations
(schema.py), and what the configuration hands the lower layers: the shop's time zone, the
clock rows are stamped with and the PIN pepper (runtime.py). Everything engine-specific lives
here. It imports nothing of ours outside this folder.
"""
