"""A real HTTP receiver on 127.0.0.1 standing in for a business's own system: it records every
request and answers as told (status, headers, a hang, a trickle, a redirect, a reset)."""

import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self):
        self.received = []  # (headers, body bytes)
        self.script = []  # answers for the next requests, in order; then 200 "ok"
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    answer = receiver.script.pop(0) if receiver.script else {}
                receiver.answer(self, answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def then(self, **answer):
        self.script.append(answer)
        return self

    @staticmethod
    def answer(handler, answer):
        if answer.get("reset"):
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.connection.close()
            handler.close_connection = True
            return
        time.sleep(answer.get("hang", 0))
        body = answer.get("body", b"ok")
        handler.send_response(answer.get("status", 200))
        for name, value in answer.get("headers", {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if answer.get("trickle"):
            for byte in body:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
                time.sleep(answer["trickle"])
        else:
            handler.wfile.write(body)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
