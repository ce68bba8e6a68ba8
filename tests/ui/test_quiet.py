"""A quiet terminal: a served app prints a visitor's mistake as one line, no traceback, and no repeated warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, free_port
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ui.assets import bundled_examples


def test_mistakes_are_one_line_and_nothing_repeats(tmp_path: Path, tiny_settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ALIGN_CACHE": str(tiny_settings.cache_dir),  # the tiny models are built already
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "app.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--preset", "tiny"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            for _ in range(600):
                try:
                    if urllib.request.urlopen(url, timeout=2).status == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            client = Client(url, verbose=False, download_files=False)
            cat = bundled_examples()[-1]["images"][0]
            texts = "\n".join(f"a cat number {i}" for i in range(11))  # 12 points: projected with UMAP
            for n in range(3):  # three compares: a warning said on each UMAP fit would repeat
                client.predict(f"{texts}\nrun {n}", None, [handle_file(cat)], [], "cosine", api_name="/compare")
            with pytest.raises(AppError):
                client.predict(None, False, "skip", "", "", api_name="/evaluate")
        except Exception:
            print(log.read_text()[-4000:])
            raise
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert text.count("tick 'use the bundled example'") == 1, text[-3000:]  # the mistake, said once
    assert "UserWarning" not in text and "n_jobs" not in text, text[-3000:]
