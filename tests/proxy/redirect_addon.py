"""Test only: every server connection mitmdump opens goes to the local origin (443 to its HTTPS port, anything
else to its HTTP port), so the tests can name real hosts (www.google.com, www.omegle.com) without the internet.
The hosts in HEARTH_TEST_DEAD go nowhere (a closed port), as a name DNS blocked with 0.0.0.0 would."""
import os


class Redirect:
    def server_connect(self, data):
        port = data.server.address[1] if data.server.address else 80
        if data.server.address and data.server.address[0] in os.environ.get("HEARTH_TEST_DEAD", "").split(","):
            data.server.address = ("127.0.0.1", 1)
            return
        target = os.environ["HEARTH_TEST_HTTPS"] if port == 443 else os.environ["HEARTH_TEST_HTTP"]
        data.server.address = ("127.0.0.1", int(target))


addons = [Redirect()]
