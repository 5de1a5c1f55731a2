"""Helpers for the customer-message tests: a local HTTP receiver, a real SMTP server, and arranging data."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from steelyard.customers.testing import make_customer
from steelyard.integrations.models import NotificationEndpoint
from steelyard.orders.testing import make_order, make_product


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Receiver:
    """A local HTTP server in a thread that records every POST and answers with ``answer(request)``."""

    answer: Callable[[Received], tuple[int, bytes]]
    requests: list[Received] = field(default_factory=list)
    url: str = ""


def wecom_ok(_request: Received) -> tuple[int, bytes]:
    return 200, json.dumps({"errcode": 0, "errmsg": "ok"}).encode()


def wecom_error(
    errcode: int = 93000, errmsg: str = "invalid webhook url"
) -> Callable[[Received], tuple[int, bytes]]:
    def answer(_request: Received) -> tuple[int, bytes]:
        return 200, json.dumps({"errcode": errcode, "errmsg": errmsg}).encode()

    return answer


@contextlib.contextmanager
def http_receiver(answer: Callable[[Received], tuple[int, bytes]] = wecom_ok) -> Iterator[Receiver]:
    receiver = Receiver(answer=answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
            receiver.requests.append(request)
            status, body = receiver.answer(request)
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test-key"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPSink:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's naming
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[SMTPSink, int]]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd), on a free port."""
    from aiosmtpd.controller import Controller

    sink = SMTPSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def make_endpoint(
    customer: Any, *, channel: str = "email", address: str = "buyer@example.com", **kw: Any
) -> Any:
    return NotificationEndpoint.objects.create(
        customer=customer,
        channel=channel,
        address=address,
        language=kw.pop("language", "zh-hans"),
        events=kw.pop("events", []),
        secret=kw.pop("secret", "s3cret" if channel == "webhook" else ""),
        **kw,
    )


def arrange_order(
    owner: Any, *, name: str = "上海振华重工有限公司", number: str | None = None
) -> tuple[Any, Any]:
    customer = make_customer(owner, name=name)
    product = make_product(name="门式起重机 MG50")
    order = make_order(customer, number=number, lines=[(product, 2, "1250000")])
    return customer, order
