"""The microservices' work: plain functions, no Prefect flows, no HTTP.

- ``tasks.transfer``, ``tasks.ingest``, ``tasks.capture``: the steps of each flow,
  one module per Archivematica microservice group (or capture stage);
- ``tasks.tools``: adapters of the external tools the steps call (ClamAV, Siegfried,
  ExifTool/MediaInfo/ffprobe, validators, 7-Zip);
- ``tasks.normalize``: the format policy and the normalization tools;
- libraries the steps share: package extraction that cannot leave its destination
  (``extract``, ``archive_members``, ``archive_write``, ``safefs``), bags (``aip_bag``
  builds the AIP's, ``bag_check`` validates any), digests (``fixity``), the AIP and
  DIP stores (``aipstore``, ``aipreplace``, ``dipstore``), names (``sanitize``),
  trees (``walk``), metadata CSVs (``metadata_csv``, ``checksum_files``).
"""
