"""Database: engine, sessions, ORM base, embedded Postgres and migrations."""
