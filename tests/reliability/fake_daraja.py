"""A small fake Daraja on loopback that misbehaves on a schedule (the faults Daraja and the
networks in front of it really produce). Each request to the STK endpoint takes the next fault.

For the worker-tier proofs it also counts STK POSTs per PhoneNumber (``stk_by_phone``), can answer
slowly (``delay``) or hang until released (``hang()`` / ``recover()``), answers STK queries for what
it accepted, and can post the success callback of each push it accepted to its CallBackURL
(``post_callbacks``), as the customer typing their PIN would."""

import collections
import json
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("timeout", "reset", "http500", "http503_html", "http429", "malformed", "html200", "error200", "trickle", "redirect")


class FakeDaraja:
    def __init__(self, schedule, *, stall_seconds=3.0, delay=0.0, post_callbacks=False, callback_delay=0.2):
        self.schedule = list(schedule)
        self.stall_seconds = stall_seconds
        self.delay = delay
        self.post_callbacks = post_callbacks
        self.callback_delay = callback_delay
        self.oauth_calls = 0
        self.stk_calls = 0
        self.query_calls = 0
        self.hung_requests = 0  # requests that arrived during a hang and waited for recover()
        self.stk_by_phone = collections.Counter()
        self.accepted = {}  # CheckoutRequestID -> the STK request body
        self.callbacks_posted = collections.Counter()  # HTTP status of each callback POST
        self.token_version = 1
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer's body waits ~40 ms for a delayed ACK

            def log_message(self, *args):
                pass

            def _send(self, status, body, content_type="application/json", extra=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (extra or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting (a hang longer than its read timeout)
                    self.close_connection = True

            def do_GET(self):  # noqa: N802
                with fake.lock:
                    fake.oauth_calls += 1
                    fake.token_version += 1
                    token = f"tok-{fake.token_version}"
                self._send(200, {"access_token": token, "expires_in": "3599"})

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                if not fake.released.is_set():
                    with fake.lock:
                        fake.hung_requests += 1
                    fake.released.wait()
                if self.path.startswith("/mpesa/stkpushquery/"):
                    return self._query(body)
                with fake.lock:
                    fake.stk_calls += 1
                    number = fake.stk_calls
                    fake.stk_by_phone[str(body.get("PhoneNumber", ""))] += 1
                    fault = fake.schedule.pop(0) if fake.schedule else "ok"
                    current = f"tok-{fake.token_version}"
                if fake.delay:
                    time.sleep(fake.delay)
                if fault == "expired_token" or (fault == "ok" and self.headers.get("Authorization") != f"Bearer {current}"):
                    return self._send(404, {"requestId": "r", "errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
                if fault == "ok":
                    checkout = f"ws_CO_FAKE{number:06d}"
                    with fake.lock:
                        fake.accepted[checkout] = body
                    if fake.post_callbacks:
                        threading.Timer(fake.callback_delay, fake._post_callback, (checkout, body)).start()
                    return self._send(200, {"MerchantRequestID": f"m-{number}", "CheckoutRequestID": checkout,
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

            def _query(self, body):
                with fake.lock:
                    fake.query_calls += 1
                    known = body.get("CheckoutRequestID") in fake.accepted
                if not known:
                    return self._send(500, {"requestId": "r", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"})
                # What the fake accepted, the customer paid (its callback carries the receipt).
                return self._send(200, {"ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
                                        "MerchantRequestID": "m", "CheckoutRequestID": body["CheckoutRequestID"],
                                        "ResultCode": "0", "ResultDesc": "The service request is processed successfully."})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client killed mid-call is expected here
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def hang(self):
        """Every STK push and query waits (its connection open, no answer) until ``recover()``;
        OAuth keeps answering. A request released after its client gave up still counts as
        accepted (Daraja may well have prompted the phone) and gets its callback."""
        self.released.clear()

    def recover(self):
        self.released.set()

    def _post_callback(self, checkout, request):
        number = checkout.removeprefix("ws_CO_FAKE")
        payload = {"Body": {"stkCallback": {
            "MerchantRequestID": f"m-{int(number)}", "CheckoutRequestID": checkout, "ResultCode": 0,
            "ResultDesc": "The service request is processed successfully.",
            "CallbackMetadata": {"Item": [
                {"Name": "Amount", "Value": float(request.get("Amount", 0))},
                {"Name": "MpesaReceiptNumber", "Value": f"FK{int(number):08d}"},
                {"Name": "TransactionDate", "Value": 20261201120000},
                {"Name": "PhoneNumber", "Value": int(request.get("PhoneNumber") or 0)},
            ]},
        }}}
        status = None
        for _ in range(20):  # Daraja re-sends a callback that got no 2xx
            try:
                req = urllib.request.Request(request["CallBackURL"], data=json.dumps(payload).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(req, timeout=10) as answer:
                    status = answer.status
            except OSError as exc:
                status = getattr(exc, "code", None)
            if status and 200 <= status < 300:
                break
            time.sleep(0.5)
        with self.lock:
            self.callbacks_posted[status] += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
