"""The risky-text detector: grooming, self-harm, drugs, bullying and threats in English and French messages.

``from appliance.textscan import scan`` — usable without mitmproxy (the proxy addon calls it on request bodies).
"""
from .scanner import Hit, scan

__all__ = ["Hit", "scan"]
