"""The transfer microservices: one Prefect task per Archivematica microservice group."""
