"""`make run`: the whole system in one command — the web server, a Celery worker and beat.

Development only. The worker and beat use the same broker as the web process (the embedded
filesystem broker by default with DEBUG on, so no server is needed). Ctrl-C stops all three; if
one of them dies, the others are stopped too and the command fails, so nothing half-runs.

The worker starts once the web server answers: tasks already waiting in the broker (the demo's
C2B URL registration from `seed_demo`) call the simulator, which the web server serves.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve the web app with a Celery worker (thread pool) and beat beside it; Ctrl-C stops everything."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=8, help="Worker threads (their work is waiting on Daraja).")

    def processes(self, addrport: str, concurrency: int) -> dict[str, list[str]]:
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "payme"]
        return {
            "web": [python, "manage.py", "runserver", addrport],
            "worker": [*celery, "worker", "--pool", "threads", "--concurrency", str(concurrency),
                       "--hostname", "dev-worker@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            "beat": [*celery, "beat", "--loglevel", "INFO", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME],
        }

    @staticmethod
    def environment() -> dict[str, str]:
        """Web, worker and beat count into one /metrics (prometheus-client's multiprocess mode):
        a fresh PROMETHEUS_MULTIPROC_DIR under .run/ unless one is set."""
        env = dict(os.environ)
        if not env.get("PROMETHEUS_MULTIPROC_DIR"):
            metrics_dir = settings.RUN_DIR / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return env

    def handle(self, *args, addrport, concurrency, **options):
        if not settings.CELERY_BROKER_URL:
            raise CommandError("CELERY_BROKER_URL is not set (with DEBUG on it defaults to the embedded filesystem broker).")
        settings.RUN_DIR.mkdir(parents=True, exist_ok=True)
        running: dict[str, subprocess.Popen] = {}
        env = self.environment()
        failed = None
        try:
            for name, command in self.processes(addrport, concurrency).items():
                running[name] = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env)
                self.stdout.write(f"started {name} (pid {running[name].pid})")
                if name == "web":
                    self._wait_for_web(addrport, running["web"])
            while failed is None:
                time.sleep(0.5)
                failed = next((name for name, proc in running.items() if proc.poll() is not None), None)
        except KeyboardInterrupt:
            self.stdout.write("\nstopping web, worker and beat…")
        finally:
            self._stop(running)
        if failed is not None:
            raise CommandError(f"{failed} exited with status {running[failed].returncode}; stopped the others.")

    @staticmethod
    def _wait_for_web(addrport: str, web: subprocess.Popen, timeout: float = 60.0) -> None:
        """Until /healthz answers (or the web server exits, or ``timeout`` passes: then the others
        start anyway and the loop above notices a dead web server)."""
        host, _, port = addrport.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/healthz"
        deadline = time.monotonic() + timeout
        while web.poll() is None and time.monotonic() < deadline:
            try:
                requests.get(url, timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.3)

    def _stop(self, running: dict[str, subprocess.Popen]) -> None:
        for proc in running.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in running.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
