"""Persistence: SQLAlchemy Core tables and Alembic migrations, the repositories used
by grains (`project_store`) and by the API (`catalog`, `accounts`, `idempotency`),
and the embedded PostgreSQL/Redis launchers (`embedded`)."""
