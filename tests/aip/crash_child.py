"""Run an AIP replacement in this process and SIGKILL it after one step (crash tests).

    python crash_child.py STEP MODE store SIP_UUID LOCATION_UUID
    python crash_child.py STEP MODE ingest SIP_UUID

``STEP`` is a step name of ``tasks.aipreplace`` (``after_step``); ``MODE`` is
``exchange`` (the filesystem's atomic exchange) or ``rename`` (as on a filesystem
without one). ``store`` runs the *Store the AIP* replacement of the SIP's remembered
package into the location; ``ingest`` runs the whole ingest flow of the SIP. The
database and home come from the environment (the test session's). Exits 0 if the
step was never reached.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tasks import aipreplace


def main(argv: list[str]) -> int:
    step, mode, what, sip_uuid = argv[:4]
    if mode == "rename":

        def no_exchange(a: Path, b: Path) -> None:
            raise aipreplace.ExchangeUnsupported(errno.EINVAL, "no exchange here", str(a))

        aipreplace.exchange = no_exchange

    def crash(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    aipreplace.after_step = crash
    if what == "ingest":
        from flows.ingest import ingest

        print(ingest.fn(sip_uuid))
        return 0
    from custos.storage import get_location
    from tasks.ingest import package
    from tasks.ingest.sip import load_sip

    packaged = package.recalled(sip_uuid)
    assert packaged is not None, "nothing packaged for this SIP"
    package.store(load_sip(sip_uuid), packaged, get_location(argv[4]), replace=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
