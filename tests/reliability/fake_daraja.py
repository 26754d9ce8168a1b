"""A small fake Daraja on loopback that misbehaves on a schedule (the faults Daraja and the
networks in front of it really produce). Each request to the STK endpoint takes the next fault."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("timeout", "reset", "http500", "http503_html", "http429", "malformed", "html200", "error200", "trickle", "redirect")


class FakeDaraja:
    def __init__(self, schedule, *, stall_seconds=3.0):
        self.schedule = list(schedule)
        self.stall_seconds = stall_seconds
        self.oauth_calls = 0
        self.stk_calls = 0
        self.token_version = 1
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer's body waits ~40 ms for a delayed ACK

            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json", extra=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                with fake.lock:
                    fake.oauth_calls += 1
                    fake.token_version += 1
                    token = f"tok-{fake.token_version}"
                self._send(200, {"access_token": token, "expires_in": "3599"})

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with fake.lock:
                    fake.stk_calls += 1
                    fault = fake.schedule.pop(0) if fake.schedule else "ok"
                    current = f"tok-{fake.token_version}"
                if fault == "expired_token" or (fault == "ok" and self.headers.get("Authorization") != f"Bearer {current}"):
                    return self._send(404, {"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
                if fault == "ok":
                    return self._send(200, {"MerchantRequestID": "m-1", "CheckoutRequestID": f"ws_CO_FAKE{fake.stk_calls:06d}",
                                            "ResponseCode": "0", "ResponseDescription": "Success. Request accepted for processing",
                                            "CustomerMessage": "Success. Request accepted for processing"})
                if fault == "timeout":
                    time.sleep(fake.stall_seconds)
                    return self._send(200, {"ResponseCode": "0"})
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    return None
                if fault == "http500":
                    return self._send(500, b"", "text/plain")
                if fault == "http503_html":
                    return self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html")
                if fault == "http429":
                    return self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": "5"})
                if fault == "malformed":
                    return self._send(200, b'{"MerchantRequestID": "m-1", "CheckoutRequestID": ', "application/json")
                if fault == "html200":
                    return self._send(200, b"<!DOCTYPE html><html><body>Gateway portal</body></html>", "text/html")
                if fault == "error200":
                    return self._send(200, {"requestId": "r", "errorCode": "500.003.02", "errorMessage": "Spike Arrest Violation"})
                if fault == "redirect":
                    return self._send(302, b"", "text/plain", {"Location": "http://127.0.0.1:9/elsewhere"})
                if fault == "trickle":
                    payload = json.dumps({"MerchantRequestID": "m", "CheckoutRequestID": "ws_CO_TRICKLE", "ResponseCode": "0"}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    try:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        pass
                    return None
                raise AssertionError(fault)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
