"""A fault-injecting HTTP proxy in front of the S3 server, for real throttling and denial tests.

    proxy = FaultyS3Proxy(s3_endpoint).start()
    proxy.fail("GET", "/bucket/key.jpg", status=503, code="SlowDown", times=2)  # then recovers
    client = make_s3_client(endpoint_url=proxy.endpoint, ...)

Requests that match no rule are forwarded unchanged; `proxy.requests` records (method, path).
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class FaultRule:
    method: str
    path_prefix: str
    status: int
    code: str
    times: int | None  # None: forever
    delay_s: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and path.split("?")[0].startswith(self.path_prefix)


class FaultyS3Proxy:
    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream)
        self.rules: list[FaultRule] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FaultyS3Proxy:
        threading.Thread(target=self.server.serve_forever, name="s3-fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, method: str, path_prefix: str, *, status: int = 503, code: str = "SlowDown",
             times: int | None = None, delay_s: float = 0.0) -> None:
        """Answer matching requests with an S3 error `times` times (forever if None)."""
        with self.lock:
            self.rules.append(FaultRule(method, path_prefix, status, code, times, delay_s))

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.split("?")[0] == path)

    def _take_fault(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.matches(method, path) and (rule.times is None or rule.times > 0):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rule = proxy._take_fault(self.command, self.path)
                if rule is not None:
                    time.sleep(rule.delay_s)
                    return self._send_error(rule)
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                try:
                    connection.request(self.command, self.path, body=body, headers=dict(self.headers))
                    upstream = connection.getresponse()
                    payload = upstream.read()
                finally:
                    connection.close()
                self.send_response(upstream.status)
                for name, value in upstream.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _send_error(self, rule: FaultRule) -> None:
                xml = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{rule.code}</Code>"
                       f"<Message>injected by FaultyS3Proxy</Message></Error>").encode()
                self.send_response(rule.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        return Handler
