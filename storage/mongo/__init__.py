"""The MongoDB store, in Parse Server's own layout (existing Parse databases work both ways)."""
from storage.mongo.adapter import MongoAdapter

__all__ = ["MongoAdapter"]
