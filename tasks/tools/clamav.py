"""Virus scanning with ClamAV: a clamd we start ourselves, or clamscan as fallback.

Archivematica's *Scan for viruses* records one *virus check* event per file with
``program="ClamAV (clamd)"; version="ClamAV 1.4.6"; virusDefinitions="..."``.
We ship a tiny signature database (``custos/data/clamav``: EICAR by hash and by
body, plus our own test marker) so scanning works offline without freshclam;
with only such custom signatures clamd reports no definitions version, and the
event detail then says ``virusDefinitions="custom"``.

Which signatures are used is decided in ``custos.virus_signatures`` (the
system's official ones kept by freshclam, else the shipped test set).
:func:`scan_with_settings` applies that choice and judges the report: when the
signatures are not official every *virus check* event detail ends with
``signatures="test-only"``, and ``CUSTOS_CLAMAV_REQUIRE_OFFICIAL`` turns that
into a refusal (``ConfigError``) before anything is scanned.

Files larger than the configured scan limits are reported as *errors*, never
silently as clean (``AlertExceedsMax``).

Example::

    report = scan_with_settings(paths, get_settings(), run_name="clamd-ingest-1234")
    # or, lower down:
    with Clamd(run_dir, database_dir) as clamd:
        report = ClamdScanner(clamd.socket_path).scan_files(paths)
    # choosing the operator's clamd, else a private one, else clamscan:
    report = scan_files(paths, database_dir=db, socket_path=maybe_socket, run_dir=run_dir)
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from custos.errors import ConfigError, StorageError, ToolFailed
from custos.programs import event_detail, run, which
from custos.settings import Settings
from custos.slots import machine_slot
from custos.virus_signatures import (
    OFFICIAL,
    TEST_ONLY,
    SignatureDatabase,
    refusal,
    select_database,
)

log = logging.getLogger(__name__)

CLEAN, INFECTED, ERROR = "clean", "infected", "error"
#: Times a private clamd that died during a scan is started again.
CLAMD_RESTARTS = 2
_LIMIT_SIG = "Heuristics.Limits.Exceeded"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ScanOutcome:
    """One file's scan result: ``clean``, ``infected`` (with signature) or ``error``."""

    path: Path
    state: str
    signature: str | None = None
    message: str | None = None
    #: the error is clamd going away (connection refused or reset), not the file
    lost: bool = False

    @property
    def premis_outcome(self) -> str:
        """eventOutcome as Archivematica writes it: ``Pass`` or ``Fail``."""
        return "Pass" if self.state == CLEAN else "Fail"

    @property
    def note(self) -> str:
        """eventOutcomeDetailNote: the signature, the error, or empty when clean."""
        if self.state == INFECTED:
            return f"virus found: {self.signature}"
        return self.message or ""


@dataclass
class ScanReport:
    """All outcomes of one scan run plus what the PREMIS agent/detail needs."""

    engine: str
    version: str | None
    definitions: str | None
    outcomes: list[ScanOutcome] = field(default_factory=list)
    #: ``official`` or ``test-only`` once judged (:func:`judge_signatures`).
    signatures: str | None = None
    #: times clamd died during the scan and was started again
    restarts: int = 0

    @property
    def event_detail(self) -> str:
        """``program="ClamAV (clamd)"; version="ClamAV 1.4.6"; virusDefinitions="..."``.

        Archivematica's three keys, plus ``signatures="test-only"`` when the
        scan had no official signatures.
        """
        test_only = TEST_ONLY if self.signatures == TEST_ONLY else None
        return event_detail(
            self.engine, self.version, virusDefinitions=self.definitions, signatures=test_only
        )

    @property
    def infected(self) -> list[ScanOutcome]:
        """Files in which a signature matched."""
        return [o for o in self.outcomes if o.state == INFECTED]

    @property
    def errors(self) -> list[ScanOutcome]:
        """Files that could not be scanned (unreadable, over limits, clamd failure)."""
        return [o for o in self.outcomes if o.state == ERROR]


def _split_version(text: str, database_dir: Path | None) -> tuple[str, str | None]:
    """``ClamAV 1.4.6/27000/Mon ...`` -> (``ClamAV 1.4.6``, ``27000/Mon ...``)."""
    parts = text.strip().split("/", 1)
    if len(parts) == 2:
        return parts[0], parts[1]
    official = database_dir is not None and any(
        p.suffix in {".cvd", ".cld"} for p in database_dir.glob("*")
    )
    return parts[0], None if official else "custom"


def _outcome(path: Path, state_text: str) -> ScanOutcome:
    """Turn clamd's ``<sig> FOUND`` / ``OK`` / ``<msg> ERROR`` into a ScanOutcome."""
    text = state_text.strip()
    if text == "OK":
        return ScanOutcome(path, CLEAN)
    if text == "Empty file":  # clamscan's wording; nothing to infect
        return ScanOutcome(path, CLEAN, message="empty file")
    if text.endswith(" FOUND"):
        sig = text[: -len(" FOUND")]
        if sig.startswith(_LIMIT_SIG):
            return ScanOutcome(path, ERROR, message=f"not fully scanned: exceeds limits ({sig})")
        return ScanOutcome(path, INFECTED, signature=sig)
    if text.endswith(" ERROR"):
        return ScanOutcome(path, ERROR, message=text[: -len(" ERROR")])
    return ScanOutcome(path, ERROR, message=f"unexpected reply: {text}")


class ClamdScanner:
    """A minimal clamd client over a Unix socket (null-terminated ``z`` commands).

    ``stream=False`` sends ``SCAN <path>`` (clamd reads the file: fastest, needs
    the same filesystem and permissions); ``stream=True`` sends the bytes with
    ``INSTREAM``. Raw path bytes are sent, so non-UTF-8 names work.
    """

    def __init__(
        self,
        socket_path: str | Path,
        *,
        stream: bool = False,
        timeout: float = 600.0,
        database_dir: Path | None = None,
    ) -> None:
        self.socket_path = str(socket_path)
        self.stream = stream
        self.timeout = timeout
        self.database_dir = database_dir

    def _command(self, command: bytes, payload: Iterable[bytes] = ()) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                sock.sendall(b"z" + command + b"\0")
                for chunk in payload:
                    sock.sendall(chunk)
                reply = bytearray()
                while not reply.endswith(b"\0"):
                    data = sock.recv(65536)
                    if not data:
                        break
                    reply += data
        except OSError as exc:
            raise ToolFailed("clamd", None, f"clamd at {self.socket_path}: {exc}") from exc
        if not reply.endswith(b"\0"):  # closed before its answer ended: clamd went away
            raise ToolFailed(
                "clamd", None, f"clamd at {self.socket_path} closed the connection mid-answer"
            )
        return bytes(reply).rstrip(b"\0").decode("utf-8", "surrogateescape")

    def ping(self) -> bool:
        """True when clamd answers PONG."""
        try:
            return self._command(b"PING") == "PONG"
        except ToolFailed:
            return False

    def version(self) -> tuple[str, str | None]:
        """(engine version, definitions version or "custom"/None)."""
        return _split_version(self._command(b"VERSION"), self.database_dir)

    def scan_file(self, path: str | Path) -> ScanOutcome:
        """Scan one file; connection problems become an ``error`` outcome."""
        target = Path(path).absolute()
        raw = os.fsencode(target)
        try:
            if self.stream:
                reply = self._command(b"INSTREAM", self._chunks(target))
                prefix = "stream: "
            else:
                reply = self._command(b"SCAN " + raw)
                prefix = os.fsdecode(raw) + ": "
        except ToolFailed as exc:
            return ScanOutcome(target, ERROR, message=str(exc), lost=True)
        except StorageError as exc:
            return ScanOutcome(target, ERROR, message=str(exc))
        if reply.startswith(prefix):
            return _outcome(target, reply[len(prefix) :])
        return _outcome(target, reply.rpartition(": ")[2] if ": " in reply else reply)

    @staticmethod
    def _chunks(path: Path) -> Iterable[bytes]:
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    yield struct.pack("!L", len(chunk)) + chunk
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc
        yield struct.pack("!L", 0)

    def scan_files(self, paths: Iterable[str | Path], *, workers: int = 4) -> ScanReport:
        """Scan many files over a few concurrent connections; order is kept."""
        engine_version, definitions = self.version()
        report = ScanReport("ClamAV (clamd)", engine_version, definitions)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clamd") as pool:
            report.outcomes = list(pool.map(self.scan_file, paths))
        return report


class ClamscanScanner:
    """Fallback: one ``clamscan -d <db>`` process per batch of files."""

    def __init__(
        self,
        database_dir: str | Path,
        *,
        max_file_size: str = "2000M",
        batch: int = 500,
        timeout: float = 3600.0,
    ) -> None:
        self.database_dir = Path(database_dir)
        self.max_file_size = max_file_size
        self.batch = batch
        self.timeout = timeout

    def version(self) -> tuple[str, str | None]:
        """(engine version, definitions version or "custom"/None), from ``clamscan -V``."""
        result = run(["clamscan", "-d", self.database_dir, "-V"], timeout=60, check=True)
        return _split_version(result.stdout, self.database_dir)

    def scan_files(self, paths: Iterable[str | Path]) -> ScanReport:
        """Scan files in batches; exit 0 = clean, 1 = found, 2 = errors (per-file lines)."""
        engine_version, definitions = self.version()
        report = ScanReport("ClamAV (clamscan)", engine_version, definitions)
        targets = [Path(p).absolute() for p in paths]
        for start in range(0, len(targets), self.batch):
            report.outcomes.extend(self._scan_batch(targets[start : start + self.batch]))
        return report

    def _scan_batch(self, targets: Sequence[Path]) -> list[ScanOutcome]:
        """One clamscan run; its report lines are matched to the targets as raw bytes.

        clamscan prints file names byte for byte, so a name that is not UTF-8
        only matches when both sides are compared undecoded (``os.fsencode``).
        """
        args: list[bytes] = [
            b"clamscan",
            b"--no-summary",
            b"--stdout",
            b"-d",
            os.fsencode(self.database_dir),
            f"--max-filesize={self.max_file_size}".encode(),
            f"--max-scansize={self.max_file_size}".encode(),
            b"--alert-exceeds-max=yes",
            b"--",
            *(os.fsencode(t) for t in targets),
        ]
        try:
            proc = subprocess.run(
                args,
                executable=which("clamscan") or "clamscan",
                capture_output=True,
                timeout=self.timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError as exc:
            raise ToolFailed("clamscan", 127, "clamscan: command not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise ToolFailed(
                "clamscan", -9, f"clamscan: timed out after {self.timeout:g} s"
            ) from exc
        stderr = proc.stderr.decode("utf-8", errors="replace")
        if proc.returncode not in (0, 1, 2):
            raise ToolFailed("clamscan", proc.returncode, stderr)
        wanted = {os.fsencode(t): t for t in targets}
        replies: dict[bytes, str] = {}
        for line in (proc.stdout + b"\n" + proc.stderr).splitlines():
            cut = line.find(b": ")
            while cut != -1:  # a name may itself contain ": "
                if line[:cut] in wanted:
                    replies.setdefault(line[:cut], line[cut + 2 :].decode("utf-8", "replace"))
                    break
                cut = line.find(b": ", cut + 1)
        outcomes = []
        for target in targets:
            reply = replies.get(os.fsencode(target))
            if reply is None:
                outcomes.append(
                    ScanOutcome(target, ERROR, message=stderr.strip() or "no result from clamscan")
                )
            else:
                outcomes.append(_outcome(target, reply))
        return outcomes


#: Longest socket path clamd is given (the kernel's limit is 107 bytes).
SOCKET_PATH_MAX = 100


class Clamd:
    """Start and stop a private clamd (Foreground, LocalSocket) in a run directory.

    Usable as a context manager; ``stop()`` always leaves no process behind.
    """

    def __init__(
        self,
        run_dir: str | Path,
        database_dir: str | Path,
        *,
        max_file_size: str = "2000M",
        startup_timeout: float = 120.0,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.database_dir = Path(database_dir)
        self.max_file_size = max_file_size
        self.startup_timeout = startup_timeout
        self.socket_path = self.run_dir / "clamd.sock"
        #: A private folder for the socket when the run directory's path is too long for
        #: a Unix socket (108 bytes with its name): a home deep in the file system.
        self._socket_dir: Path | None = None
        self._private_socket = len(os.fsencode(self.socket_path)) > SOCKET_PATH_MAX
        self._make_socket_dir()
        self.config_path = self.run_dir / "clamd.conf"
        self.log_path = self.run_dir / "clamd.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _make_socket_dir(self) -> None:
        """A fresh private socket folder when the run directory's path is too long (a
        new one on every start: ``stop()`` removes it)."""
        if self._private_socket and (self._socket_dir is None or not self._socket_dir.is_dir()):
            self._socket_dir = Path(tempfile.mkdtemp(prefix="custos-clamd-"))
            self.socket_path = self._socket_dir / "clamd.sock"

    def write_config(self) -> Path:
        """Write clamd.conf into the run directory and return its path."""
        if len(os.fsencode(self.socket_path)) > SOCKET_PATH_MAX:
            raise ConfigError(f"clamd socket path too long for a Unix socket: {self.socket_path}")
        if not any(self.database_dir.glob("*.[chn]db")) and not any(
            self.database_dir.glob("*.c[vl]d")
        ):
            raise ConfigError(f"no ClamAV signature files in {self.database_dir}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        size = self.max_file_size
        self.config_path.write_text(
            "\n".join(
                [
                    f"LocalSocket {self.socket_path}",
                    "FixStaleSocket yes",
                    f"DatabaseDirectory {self.database_dir.absolute()}",
                    f"PidFile {self.run_dir / 'clamd.pid'}",
                    "Foreground yes",
                    f"LogFile {self.log_path}",
                    f"StreamMaxLength {size}",
                    f"MaxFileSize {size}",
                    # ClamAV counts data it finds embedded in a file (even by chance in
                    # random bytes) toward the scan size: give it the largest budget so
                    # a file within MaxFileSize is scanned completely, not refused.
                    "MaxScanSize 4000M",
                    "MaxScanTime 600000",
                    "AlertExceedsMax yes",
                    "SelfCheck 0",
                    "",
                ]
            )
        )
        return self.config_path

    def start(self) -> None:
        """Start clamd and wait until it answers PING (raises ToolFailed otherwise)."""
        program = which("clamd")
        if program is None:
            raise ToolFailed("clamd", 127, "clamd: command not found")
        self._make_socket_dir()
        self.write_config()
        # stderr goes to a file: a pipe nobody reads could fill and block clamd.
        with open(self.run_dir / "clamd.stderr", "wb") as err:
            self.process = subprocess.Popen(
                [program, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                start_new_session=True,
            )
        client = ClamdScanner(self.socket_path, database_dir=self.database_dir)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            process = self.process
            if process is None:  # stopped by another thread meanwhile
                raise ToolFailed("clamd", None, "stopped while starting")
            if process.poll() is not None:
                self.process = None
                raise ToolFailed("clamd", process.returncode, self._log_tail())
            if self.socket_path.exists() and client.ping():
                return
            time.sleep(0.05)
        self.stop()
        raise ToolFailed("clamd", None, f"no PONG within {self.startup_timeout:g} s")

    def _log_tail(self) -> str:
        text = ""
        for path in (self.run_dir / "clamd.stderr", self.log_path):
            try:
                text += path.read_text(errors="replace")[-2000:]
            except OSError:
                pass
        return text

    def alive(self) -> bool:
        """Whether the clamd process started here still runs."""
        return self.process is not None and self.process.poll() is None

    def restart(self) -> None:
        """Stop what is left of clamd and start it again (after it died)."""
        self.stop()
        self.start()

    def scanner(self, *, stream: bool = False) -> ClamdScanner:
        """A client bound to this clamd's socket."""
        return ClamdScanner(self.socket_path, stream=stream, database_dir=self.database_dir)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL if needed; remove the socket. Safe to call twice."""
        proc, self.process = self.process, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
        self.socket_path.unlink(missing_ok=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def __enter__(self) -> Clamd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def clamd_scanner(
    socket_path: str | Path | None,
    run_dir: Path,
    database_dir: Path,
    *,
    starting: Callable[[Clamd], None] | None = None,
) -> Iterator[ClamdScanner | None]:
    """The clamd to scan with: the operator's (``socket_path``) when it answers,
    else a private clamd started in ``run_dir`` for the duration (when clamd is
    installed), else None. The one place that chooses between them.

    ``starting`` is called with the private clamd just before it starts: a caller
    scanning in another thread keeps it to stop it early (``Clamd.stop`` from any
    thread ends the scans in flight, which then come back as errors).
    """
    if socket_path is not None:
        client = ClamdScanner(socket_path, database_dir=database_dir)
        yield client if client.ping() else None
        return
    if which("clamd") is None:
        yield None
        return
    clamd = Clamd(run_dir, database_dir)
    if starting is not None:
        starting(clamd)
    with clamd:
        yield clamd.scanner()


def scan_private(
    paths: Sequence[str | Path], run_dir: Path, database_dir: Path, *, workers: int = 4
) -> ScanReport:
    """Scan with a private clamd started in ``run_dir``; if clamd dies during the scan
    (killed, out of memory), it is started again and every file it did not answer
    for is scanned again, up to ``CLAMD_RESTARTS`` times. Files it did answer for
    keep their result; a clamd that keeps dying leaves those files as errors."""
    with Clamd(run_dir, database_dir) as clamd:
        report: ScanReport | None = None
        for attempt in range(CLAMD_RESTARTS + 1):
            todo = (
                list(range(len(paths)))
                if report is None
                else [i for i, o in enumerate(report.outcomes) if o.lost]
            )
            if report is not None and (not todo or clamd.alive()):
                break
            if attempt:
                assert report is not None  # set by the first attempt
                log.warning(
                    "clamd in %s died during a scan: restarted, %d file(s) scanned again",
                    run_dir,
                    len(todo),
                )
                clamd.restart()
                report.restarts = attempt
            try:
                part = clamd.scanner().scan_files([paths[i] for i in todo], workers=workers)
            except ToolFailed:  # clamd gone before it told its version
                if clamd.alive() or attempt == CLAMD_RESTARTS:
                    raise
                if report is None:
                    report = ScanReport("ClamAV (clamd)", "", None)
                    report.outcomes = [
                        ScanOutcome(Path(p), ERROR, message="clamd died", lost=True) for p in paths
                    ]
                continue
            if report is None:
                report = part
            else:
                for index, outcome in zip(todo, part.outcomes, strict=True):
                    report.outcomes[index] = outcome
                report.version = part.version
                report.definitions = part.definitions
        assert report is not None
        return report


def scan_files(
    paths: Sequence[str | Path],
    *,
    database_dir: str | Path,
    socket_path: str | Path | None = None,
    run_dir: Path | None = None,
    workers: int = 4,
) -> ScanReport:
    """Scan with clamd (:func:`clamd_scanner`; a private one only when ``run_dir``
    is given), else with clamscan. Raises :class:`ToolFailed` when neither exists."""
    db = Path(database_dir)
    if paths and socket_path is None and run_dir is not None and which("clamd") is not None:
        return scan_private(paths, run_dir, db, workers=workers)
    if paths and (socket_path is not None or run_dir is not None):
        with clamd_scanner(socket_path, run_dir or Path(), db) as client:
            if client is not None:
                return client.scan_files(paths, workers=workers)
    if which("clamscan") is None:
        raise ToolFailed("clamscan", 127, "neither clamd nor clamscan is available")
    return ClamscanScanner(db).scan_files(paths)


def usable_database(settings: Settings) -> SignatureDatabase:
    """The signature folder to scan with; ConfigError when a scan must be refused.

    An external clamd (``CUSTOS_CLAMD_SOCKET``) loads its own folder, so only
    its report can be judged (:func:`judge_signatures`), after the fact.
    """
    database = select_database(settings)
    message = refusal(settings, database) if settings.clamd_socket is None else None
    if message:
        raise ConfigError(message)
    return database


def judge_signatures(report: ScanReport, settings: Settings, database: SignatureDatabase) -> None:
    """Label ``report`` official or test-only; ConfigError when official ones are required.

    ``database`` is the folder Custos chose (:func:`usable_database`); a report
    of the external clamd (``CUSTOS_CLAMD_SOCKET``) is judged by that clamd's
    own reply instead. Official needs both an official folder and ClamAV
    reporting a definitions version (``ClamAV 1.4.6/27577/...``): with only
    custom signatures ClamAV reports none.
    """
    external = settings.clamd_socket is not None and report.engine == "ClamAV (clamd)"
    loaded = report.definitions not in (None, "custom")
    report.signatures = OFFICIAL if loaded and (external or database.official) else TEST_ONLY
    if report.signatures == OFFICIAL or not settings.clamav_require_official:
        return
    message = None if external else refusal(settings, database)
    raise ConfigError(
        message
        or "virus check refused: CUSTOS_CLAMAV_REQUIRE_OFFICIAL is "
        f"set and {report.engine} reports no official definitions version "
        f"({report.version or 'unknown version'})"
    )


def scan_with_settings(paths: Sequence[Path], settings: Settings, *, run_name: str) -> ScanReport:
    """Scan ``paths`` as configured, with judged signatures.

    The external clamd when ``CUSTOS_CLAMD_SOCKET`` names one, else a private clamd
    in ``run_dir/run_name`` for the duration of the scan, else clamscan (which, for
    an external clamd that does not answer, uses our own signature folder).
    """
    database = usable_database(settings)
    if settings.clamd_socket is not None:
        message = refusal(settings, database)
        with clamd_scanner(settings.clamd_socket, settings.run_dir, database.directory) as ext:
            if ext is None and message:  # clamscan would fall back on our folder
                raise ConfigError(message)
    with machine_slot(settings.run_dir, "clamav", settings.virus_scan_limit):
        report = scan_files(
            paths,
            database_dir=database.directory,
            socket_path=settings.clamd_socket,
            run_dir=settings.run_dir / run_name,
            workers=settings.worker_threads,
        )
    judge_signatures(report, settings, database)
    return report
