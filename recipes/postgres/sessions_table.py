"""The PostgreSQL sessions table of the postgres recipe's store: copy this file and schema.sql
into your app, and call prepare_sessions_table(url) before serving."""
from pathlib import Path

import psycopg

SCHEMA = Path(__file__).with_name("schema.sql")
DATA_TYPE = ("SELECT data_type FROM information_schema.columns"
             " WHERE table_schema = current_schema() AND table_name = 'sessions' AND column_name = 'data'")


def prepare_sessions_table(url):
    """Create the table if it is missing. Returns None, or why it cannot be used, for the user."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(SCHEMA.read_text())
            column = connection.execute(DATA_TYPE).fetchone()
    except psycopg.Error as error:
        return f"Cannot use the sessions table: {error}"
    if column != ("jsonb",):
        # CREATE TABLE IF NOT EXISTS left alone a table of that name made for another store.
        return (f"The sessions table holds its data as {column[0] if column else 'nothing'}, not jsonb: another "
                "store made it, such as web.py's DBStore. Drop it, or use another database.")
    return None
