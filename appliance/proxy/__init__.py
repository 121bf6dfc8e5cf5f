"""The HTTP(S) side of Hearth for managed devices: a mitmproxy addon that asks the same policy engine as DNS.

  addon.py       the mitmproxy addon (the only module that imports mitmproxy)
  rules.py       pure logic: passthrough, page rules, safe-search edits, learning pinned hosts
  texts.py       the words in an HTTP body, for the risky-text detector
  pages.py       the block page, "ask for access", the PAC file
  onboarding.py  the CA and step-by-step setup page (usable by the admin)
  access.py      a parent approving an ask: a timed allow
  run.py         ``hearth proxy``: mitmdump from the proxy's own venv, its files kept private
"""
