"""Persistence: SQLAlchemy 2 Core tables, Alembic migrations, SQLite (WAL) or PostgreSQL."""
