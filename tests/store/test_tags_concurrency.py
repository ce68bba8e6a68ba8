"""Tags under concurrency and crashes: 10 writer threads and 2 writer processes lose no acknowledged tag; `kill -9`
mid-write leaves a valid database holding every acknowledged tag (batches whole or absent) and no stray files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from alignment.store.tags import DB_NAME, TagDatabase

DATASET = "d" * 16  # what tag_writer.py uses
WRITER = ROOT / "tests" / "store" / "tag_writer.py"


def writer(data_dir: Path, owner: str, prefix: str, count: int, batch: int = 1) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(WRITER), str(data_dir), owner, prefix, str(count), str(batch)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def stored(data_dir: Path, owner: str) -> dict[str, str]:
    return {e.key: e.note for e in TagDatabase(data_dir).tags(owner=owner, dataset=DATASET).all()}


def test_ten_threads_lose_no_acknowledged_tag(tmp_path: Path) -> None:
    shared = TagDatabase(tmp_path)  # one object for some threads; others build their own per write (per request)
    acked: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(10)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(30):
                db = shared if n % 2 else TagDatabase(tmp_path)
                key = f"t{n}-{i}"
                db.tags(owner="alice", dataset=DATASET).set(key, "model error", f"thread {n}")
                with lock:
                    acked.append(key)
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(acked) == 300
    assert set(stored(tmp_path, "alice")) == set(acked)


def test_two_processes_lose_no_acknowledged_tag(tmp_path: Path) -> None:
    TagDatabase(tmp_path)  # created before the race, as a server's start-up does
    processes = [writer(tmp_path, "alice", f"p{n}-", 120) for n in range(2)]
    acked = set()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        acked |= {line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("ack ")}
    assert len(acked) == 240
    assert set(stored(tmp_path, "alice")) == acked


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4])
def test_kill_9_mid_write_leaves_a_valid_database_with_every_acknowledged_tag(tmp_path: Path, delay: float) -> None:
    singles = writer(tmp_path, "alice", "s", 100_000)
    batches = writer(tmp_path, "alice", "b", 100_000, batch=25)
    acked: set[str] = set()
    batch_keys: list[list[str]] = []
    time.sleep(delay)
    for process, wanted in ((singles, 10), (batches, 3)):
        assert process.stdout is not None
        for _ in range(wanted):  # wait for some acknowledgements: the next write is then under way
            line = process.stdout.readline().split()
            if line[0] == "ack":
                acked.add(line[1])
            else:
                batch_keys.append(line[2:])
    for process in (singles, batches):
        process.send_signal(signal.SIGKILL)
    for process, kind in ((singles, "ack"), (batches, "ack-batch")):
        out, _ = process.communicate(timeout=30)  # lines printed before the kill are acknowledgements too
        for line in out.split("\n")[:-1]:  # whole lines only: the kill may cut the last one short
            parts = line.split()
            if parts and parts[0] == kind == "ack":
                acked.add(parts[1])
            elif parts and parts[0] == kind == "ack-batch":
                batch_keys.append(parts[2:])
        assert process.returncode == -signal.SIGKILL

    raw = sqlite3.connect(tmp_path / DB_NAME)  # opening recovers from the WAL
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    keys = set(stored(tmp_path, "alice"))
    assert acked <= keys
    for batch in batch_keys:
        assert set(batch) <= keys
    prefixes = {key.rsplit("-", 1)[0] for key in keys if key.startswith("b")}
    for prefix in prefixes:  # every batch in the database is whole: a killed transaction left nothing half-done
        assert {f"{prefix}-{i}" for i in range(25)} <= keys
    sqlite_files = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in sqlite_files) == []  # no stray temp files
    TagDatabase(tmp_path).close()  # the last connection to close checkpoints and removes the WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]
