"""Custos installed from a wheel (not the source tree) starts in an empty folder.

A non-editable ``pip install .`` goes into a fresh virtual environment whose only
other packages are the dependencies (the test venv's site-packages, reached by a
``.pth`` line, so none of its ``.pth`` hooks, the editable install included, run).
Then ``custos init`` and ``custos serve`` run from an empty folder, and the built-in
processing configurations, migrations and test signatures must come from the wheel.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from custos.runtime.preflight import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding Custos installed from a wheel; returns its python."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            "--no-compile",
            str(ROOT),
        ],
        check=True,
        cwd=build,
        env=dict(os.environ, PIP_NO_INPUT="1"),
        timeout=600,
    )
    return python


def test_wheel_installs_under_its_own_packages(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [
            str(installed),
            "-c",
            "import custos, custos.settings as s; print(custos.__file__); "
            "print(s.get_settings().builtin_processing_configs_dir)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(str(ROOT) not in line for line in where), where  # not the source tree
    configs = Path(where[1])
    assert {p.name for p in configs.glob("*.xml")} >= {"default.xml", "automated.xml"}


def test_init_and_serve_in_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CUSTOS_", "PREFECT_")) and k != "PYTHONPATH"
    }
    env.update(
        CUSTOS_PORT=str(free_port()),
        CUSTOS_PREFECT_PORT=str(free_port()),
        CUSTOS_PREFECT_UI="false",
    )
    custos = [str(installed), "-m", "cli"]
    init = subprocess.run(
        [*custos, "init"], cwd=empty, env=env, capture_output=True, text=True, timeout=300
    )
    assert init.returncode == 0, init.stderr
    assert "Traceback" not in init.stderr
    assert (empty / "var").is_dir()  # the default home, in the folder it ran from
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [*custos, "serve", "--json"],
        cwd=empty,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        text, deadline = "", time.monotonic() + 180
        info: dict[str, str] | None = None
        while info is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            if select.select([proc.stdout], [], [], 0.5)[0]:
                text += os.read(proc.stdout.fileno(), 65536).decode()
                try:
                    info = json.loads(text)
                except ValueError:
                    continue
        assert info is not None, f"serve not ready: {log.read_text()}"
        api, key = info["api_url"], info["admin_key"]
        with httpx.Client(timeout=60) as http:
            assert http.get(f"{api}/custos/health").json()["database"] == "ok"
            listed = http.get(
                f"{api}/api/processing-configuration/",
                headers={"Authorization": f"ApiKey admin:{key}"},
            )
            assert listed.status_code == 200, listed.text
            assert {"default", "automated"} <= set(listed.json()["processing_configurations"])
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Traceback" not in log.read_text()
