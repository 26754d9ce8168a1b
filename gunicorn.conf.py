"""gunicorn reads ./gunicorn.conf.py by default: production web settings that belong to the server.

With PROMETHEUS_MULTIPROC_DIR set (see README, "Metrics"), each worker writes its metrics to files
there and /metrics sums them; a worker that exits must be marked dead so its live gauges go.
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
