"""Test only: everything mitmdump sends upstream goes to the local origin (443 to its HTTPS port, anything else to
its HTTP port), so the tests can name real hosts (www.google.com, www.omegle.com) without the internet. The hosts
in HEARTH_TEST_DEAD go nowhere (a closed port), as a name DNS blocked with 0.0.0.0 would.

Decrypted requests are pointed at the origin in ``request`` (after Hearth's addon decided on the real name; the
Host header is kept), so mitmproxy's upstream connections match their requests and are reused as in real life;
``server_connect`` covers what is relayed without decryption (passthrough, unmanaged devices)."""
import os


def _target(host: str, port: int) -> tuple[str, int]:
    if host in os.environ.get("HEARTH_TEST_DEAD", "").split(","):
        return "127.0.0.1", 1
    return "127.0.0.1", int(os.environ["HEARTH_TEST_HTTPS"] if port == 443 else os.environ["HEARTH_TEST_HTTP"])


class Redirect:
    def request(self, flow):
        if flow.response is None and flow.request.host != "127.0.0.1":    # eagerly connected: already the origin
            host, port = _target(flow.request.host, flow.request.port)
            flow.request.host, flow.request.port = host, port     # Host header untouched

    def server_connect(self, data):
        addr = data.server.address
        if addr and addr[0] != "127.0.0.1":
            data.server.address = _target(addr[0], addr[1])


addons = [Redirect()]
