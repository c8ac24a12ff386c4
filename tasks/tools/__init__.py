"""Adapters of the tools the microservices call: each wraps one tool (or one family).

- ``clamav``: virus scanning (a clamd we start, an operator's clamd, or clamscan)
- ``siegfried``: format identification (PRONOM)
- ``characterize``: ExifTool, MediaInfo and ffprobe output for the METS
- ``validate``: format validators (JHOVE-like checks with real tools)
- ``compress``: 7-Zip and tar packaging of AIPs

The steps in ``tasks.transfer``, ``tasks.ingest`` and ``tasks.capture`` call these;
the adapters know nothing of units, jobs or the database. Each finds and runs its
programs through ``custos.programs`` (the ``PATH``, then the system folders such as
``/usr/sbin``; a time-out; the version for events).
"""
