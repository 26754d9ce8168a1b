"""`manage.py daraja_simulator` serves Daraja's root paths on its own port."""

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from mpesa.simulator import registry

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_command_serves_daraja_root_paths():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "payme.settings_test"}
    server = subprocess.Popen([sys.executable, "manage.py", "daraja_simulator", "--port", str(port), "--quiet"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        app = base64.b64encode(f"{registry.SANDBOX_CONSUMER_KEY}:{registry.SANDBOX_CONSUMER_SECRET}".encode()).decode()
        token = requests.get(f"{base}/oauth/v1/generate?grant_type=client_credentials", headers={"Authorization": f"Basic {app}"}, timeout=5)
        assert token.status_code == 200 and token.json()["expires_in"] == "3599"
        missing = requests.get(f"{base}/simulator/daraja/oauth/v1/generate", timeout=5)
        assert missing.status_code == 404 and missing.json()["errorCode"] == "404.001.01"
        assert requests.post(f"{base}/oauth/v1/generate", timeout=5).json()["errorCode"] == "405.001"
    finally:
        server.terminate()
        server.wait(timeout=10)
