"""Run by test_addon.py with the proxy venv's Python (mitmproxy is not in Hearth's venv): the addon under
mitmproxy's own ``taddons.context()`` and ``tflow`` flows, one JSON line of results per case read from stdin.

Input per line: {"ip", "method", "url", "headers": {..}, "body"}; output: {"status", "url", "headers",
"req_stream", "resp_stream", "error"}."""
import asyncio
import json
import sys

from mitmproxy import http
from mitmproxy.test import taddons, tflow

from appliance.proxy.addon import HearthAddon


def flow_for(case):
    f = tflow.tflow()
    f.client_conn.peername = (case["ip"], 40000)
    if case.get("mode"):
        from mitmproxy.proxy.mode_specs import ProxyMode
        f.client_conn.proxy_mode = ProxyMode.parse(case["mode"])
    req = http.Request.make(case.get("method", "GET"), case["url"], case.get("body", "").encode("utf-8"),
                            case.get("headers", {}))
    for k, v in case.get("headers", {}).items():     # after make(), which sets content-length from the body
        req.headers[k] = v
    f.request = req
    return f


async def main(config_path: str) -> None:
    addon = HearthAddon()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, hearth_config=config_path, hearth_neighbours=False)
        for line in sys.stdin:
            case = json.loads(line)
            out = {}
            try:
                f = flow_for(case)
                addon.requestheaders(f)
                addon.request(f)
                out["req_stream"] = bool(f.request.stream)
                out["url"] = f.request.pretty_url
                out["headers"] = {k.lower(): v for k, v in f.request.headers.items()}
                if f.response is not None:
                    out["status"] = f.response.status_code
                    out["body"] = f.response.get_text(strict=False)[:4000]
                else:
                    resp = case.get("response")
                    if resp is not None:
                        f.response = http.Response.make(200, resp.get("body", "").encode(),
                                                        resp.get("headers", {}))
                        addon.responseheaders(f)
                        out["resp_stream"] = bool(f.response.stream)
                        if not f.response.stream:
                            addon.response(f)
                    out["status"] = None
                out["notices"] = [[n.kind, n.list, n.domain] for n in addon.alerts._notices]
                addon.alerts._notices.clear()
            except Exception as e:       # reported, so the test names the case
                out["error"] = f"{type(e).__name__}: {e}"
            print(json.dumps(out), flush=True)
        # what configure() refuses, in words
        for bad in ("", config_path + ".missing"):
            try:
                tctx.configure(addon, hearth_config=bad)
                print(json.dumps({"refused": None}))
            except Exception as e:
                print(json.dumps({"refused": str(e)}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
