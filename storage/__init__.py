"""Document storage: the parsed query, values, schemas, and the adapters that persist them.

Imports nothing else of ours, so every other package can build on it.
"""
