"""The admin's real server (waitress) refuses an oversized body before it is stored, whoever sends it."""
from __future__ import annotations

import socket
import threading

from appliance.admincmd import make_server
from tests.support.hearth_proc import free_port


def test_a_body_past_the_limit_is_refused_without_being_kept(tmp_path):
    port = free_port()
    cfg = tmp_path / "hearth.yaml"
    cfg.write_text(f'data_dir: {tmp_path / "var"}\ntimezone: UTC\nadmin: {{listen: "127.0.0.1:{port}"}}\n')
    server = make_server(str(cfg), f"127.0.0.1:{port}")
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                      b"Content-Length: 50000000\r\n\r\n")     # 50 MB announced: refused on its headers
            reply = s.recv(4096).decode("latin-1")
        assert reply.startswith("HTTP/1.1 413"), reply[:200]
    finally:
        server.close()
