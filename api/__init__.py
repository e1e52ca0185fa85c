"""The HTTP face: turns Parse REST requests and LiveQuery websockets into calls on storage, auth and livequery.

It is the composition root: the only package that builds concrete stores and buses.
"""
