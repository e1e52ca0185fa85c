"""The SQLite store: documents as JSON in one table per class, queried through the `where` translator."""
from storage.sqlite.adapter import SqliteAdapter

__all__ = ["SqliteAdapter"]
