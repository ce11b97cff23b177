-- The table web.py's DBStore reads and writes (valid in PostgreSQL and SQLite).
CREATE TABLE IF NOT EXISTS sessions (
    session_id char(128) UNIQUE NOT NULL,
    atime timestamp NOT NULL default current_timestamp,
    data text
);
