"""The ingest microservices (Archivematica's ingest steps 19-35) as plain functions.

``flows/ingest.py`` wraps each in a Prefect task; tests call them directly.
"""
