"""The embedded runtime behind ``custos serve``.

One command runs three child processes, each in its own process group so that
Ctrl-C reaches all of them exactly once and nothing outlives the command:

- ``server``: a Prefect server on SQLite under ``<home>/prefect`` (skipped when
  ``PREFECT_API_URL`` names one already running);
- ``runner``: a Prefect runner serving every flow of ``custos.dispatch.FLOWS`` as
  a deployment named ``custos`` (``python -m custos.runtime.runner``);
- ``api``: the FastAPI app under uvicorn, dispatching flows through Prefect.

Modules: ``env`` (Prefect kept offline; child environments), ``lock`` (one serve
per home, and a probe that does not take the lock), ``children`` (process groups),
``preflight`` (bad-input checks), ``serve`` (orchestration), ``runner``,
``liveness`` (is a flow run still alive), ``client`` (the CLI as a client of the
running serve).
"""
