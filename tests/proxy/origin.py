"""A local web origin for the live proxy tests: HTTP and HTTPS (a self-signed certificate for every test host) on
loopback, echoing what it received, a 20 MB download sent in chunks, and a WebSocket endpoint that keeps the text
messages it got. Also a minimal WebSocket client that goes through the proxy (curl here has no WebSocket)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIG = 20 * 1024 * 1024
CHUNK = 64 * 1024
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def big_chunk(i: int) -> bytes:
    return bytes([i % 251]) * CHUNK


def make_cert(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for ``names`` (openssl), as the origin's and as the CA a client may trust."""
    key, cert = directory / "origin.key", directory / "origin.pem"
    san = ",".join(f"DNS:{n}" for n in names) + ",IP:127.0.0.1"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=hearth-test-origin", "-addext", f"subjectAltName={san}"],
                   check=True, capture_output=True)
    return cert, key


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "origin"
    disable_nagle_algorithm = True      # no 40 ms delayed-ACK stalls between a response's writes
    wbufsize = 1 << 16                  # headers and body go out together (flushed after each request)

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/big"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            for i in range(BIG // CHUNK):
                self.wfile.write(big_chunk(i))
            return
        if self.path.startswith("/ws") and self.headers.get("upgrade", "").lower() == "websocket":
            self._websocket()
            return
        if self.path.startswith("/page"):
            body = self.server.page.encode("utf-8")
            self._send(200, body, "text/html; charset=utf-8")
            return
        echo = {"path": self.path, "host": self.headers.get("host"),
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        self._send(200, json.dumps(echo).encode(), "application/json")

    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        self.server.posted.append(self.rfile.read(n))
        self._send(200, b'{"ok": true}', "application/json")

    def _websocket(self):
        accept = base64.b64encode(hashlib.sha1(self.headers["sec-websocket-key"].encode() + _WS_GUID).digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            frame = read_frame(self.rfile)
            if frame is None or frame[0] == 8:
                return
            opcode, payload = frame
            if opcode == 1:
                self.server.ws_messages.append(payload.decode("utf-8"))
                self.wfile.write(encode_frame(1, payload, mask=False))
                self.wfile.flush()


def read_frame(f) -> tuple[int, bytes] | None:
    head = f.read(2)
    if len(head) < 2:
        return None
    opcode, n = head[0] & 0x0F, head[1] & 0x7F
    masked = head[1] & 0x80
    if n == 126:
        n = struct.unpack("!H", f.read(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", f.read(8))[0]
    mask = f.read(4) if masked else b""
    data = f.read(n)
    if masked:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return opcode, data


def encode_frame(opcode: int, payload: bytes, mask: bool = True) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class Origin:
    """``http_port`` and ``https_port`` on 127.0.0.1; ``posted`` and ``ws_messages`` what came in."""

    def __init__(self, cert: Path, key: Path):
        self.servers = []
        self.posted: list[bytes] = []
        self.ws_messages: list[str] = []
        self.page = "<html><body><p>hello</p></body></html>"
        for tls in (False, True):
            srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            srv.daemon_threads = True
            srv.posted, srv.ws_messages = self.posted, self.ws_messages
            srv.page = self.page
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(cert, key)
                # the handshake in the handler's thread, not in accept(): one slow client must not stall the rest
                srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
            self.servers.append(srv)
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.http_port = self.servers[0].server_address[1]
        self.https_port = self.servers[1].server_address[1]

    def set_page(self, html: str) -> None:
        for s in self.servers:
            s.page = html

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()


def websocket_send(proxy_port: int, host: str, ca: Path, text: str, source: str = "127.0.0.1") -> str:
    """Open wss://host/ws through the proxy (CONNECT, TLS trusting ``ca``), send one text message, return the
    echo."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=10, source_address=(source, 0))
    s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        reply += s.recv(4096)
    assert b" 200" in reply.split(b"\r\n", 1)[0], reply
    ctx = ssl.create_default_context(cafile=str(ca))
    t = ctx.wrap_socket(s, server_hostname=host)
    key = base64.b64encode(os.urandom(16)).decode()
    t.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    f = t.makefile("rb")
    status = f.readline()
    assert b" 101" in status, status
    while f.readline() not in (b"\r\n", b""):
        pass
    t.sendall(encode_frame(1, text.encode("utf-8")))
    frame = read_frame(f)
    t.sendall(encode_frame(8, b""))
    t.close()
    return frame[1].decode("utf-8") if frame else ""
