-- The sessions table of the postgres recipe (the recipe creates it when it is missing).
CREATE TABLE IF NOT EXISTS sessions (
    session_id text PRIMARY KEY,
    atime timestamptz NOT NULL DEFAULT now(),
    data jsonb NOT NULL
);
-- Cleanup deletes by age: an index keeps it from reading the whole table.
CREATE INDEX IF NOT EXISTS sessions_atime ON sessions (atime);
