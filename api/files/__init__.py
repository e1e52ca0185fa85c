"""Parse files over HTTP: upload shapes, the rules of `fileUpload`, downloads with ranges, the cloud hooks seam.

Kept import-free: `api.settings` reads the defaults in `api.files.policy`.
"""
