"""The risky-text detector: grooming, self-harm, drugs, bullying and threats in English and French messages.

``from appliance.textscan import scan`` — usable without mitmproxy (the proxy addon calls it on request bodies).
"""
__all__ = ["Hit", "scan"]


def __getattr__(name: str):
    # Loaded on first use: `hearth` builds the parser of `hearth scan` on every command, and the rules cost it 10 ms.
    if name in __all__:
        from . import scanner
        return getattr(scanner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
