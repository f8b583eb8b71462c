"""Alembic environment: runs migrations on the connection the hub hands over."""

from alembic import context

from privstats.hub.store import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
