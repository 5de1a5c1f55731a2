"""The shared HTTP POST helper: any HTTP answer is returned, only the absence of one raises."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from steelyard.integrations.http import EXCERPT_CHARS, HttpPostError, post_json


class _Server:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict, bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.seen.append((self.path, dict(self.headers.items()), body))
                if self.path == "/slow":
                    time.sleep(1.0)  # longer than the client waits; it has gone when we would answer
                    self.close_connection = True
                    return
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 500 if self.path == "/down" else 200
                reply = ("x" * 2000).encode() if self.path == "/long" else "好的 ok".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_it_posts_the_bytes_with_the_headers_and_returns_the_answer(server):
    status, text = post_json(
        f"{server.base}/ok", b'{"a":1}', {"X-Steelyard-Event": "order.created"}, timeout=5
    )
    assert (status, text) == (200, "好的 ok")
    path, headers, body = server.seen[0]
    assert body == b'{"a":1}' and headers["X-Steelyard-Event"] == "order.created"
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_an_error_status_is_an_answer_not_an_exception(server):
    assert post_json(f"{server.base}/down", b"{}", {}, timeout=5) == (500, "好的 ok")


def test_the_excerpt_is_short(server):
    status, text = post_json(f"{server.base}/long", b"{}", {}, timeout=5)
    assert status == 200 and len(text) == EXCERPT_CHARS


def test_redirects_are_not_followed(server):
    status, _text = post_json(f"{server.base}/redirect", b"{}", {}, timeout=5)
    assert status == 302
    assert [p for p, _h, _b in server.seen] == ["/redirect"]


def test_no_answer_raises_a_clear_error(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpPostError, match="connection failed"):
        post_json(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=2)
    with pytest.raises(HttpPostError, match="timed out"):
        post_json(f"{server.base}/slow", b"{}", {}, timeout=0.2)
    with pytest.raises(HttpPostError, match="scheme"):
        post_json("file:///etc/passwd", b"{}", {}, timeout=1)
    with pytest.raises(HttpPostError):
        post_json("http://", b"{}", {}, timeout=1)
