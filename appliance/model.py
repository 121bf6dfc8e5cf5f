"""The values that travel through Hearth: who asked, what they asked, and what was decided, and why."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Action(str, Enum):
    ALLOW = "allow"
    BLOCK = "block"
    REWRITE = "rewrite"


class Reason(str, Enum):
    """Why a decision was taken. The names are fixed: the query log stores them."""

    NONE = "NONE"                # nothing matched: allowed
    CANARY = "CANARY"            # use-application-dns.net: turns off Firefox's own DoH
    ESSENTIAL = "ESSENTIAL"      # never-block list: device health (connectivity checks, time, updates, certificates)
    PAUSED = "PAUSED"            # a live "pause internet now" override
    OVERRIDE = "OVERRIDE"        # a live timed allow ("YouTube for 30 minutes")
    DENY_LIST = "DENY_LIST"      # the child's own deny list
    SCHEDULE = "SCHEDULE"        # a schedule window in force
    ALLOW_LIST = "ALLOW_LIST"    # the child's own allow list
    APP = "APP"                  # a blocked app from the catalog
    CATEGORY = "CATEGORY"        # a blocked category
    BYPASS = "BYPASS"            # DoH / VPN / proxy / private relay endpoints
    SAFE_SEARCH = "SAFE_SEARCH"  # rewritten to the engine's safe host
    CNAME = "CNAME"              # an upstream answer's CNAME target is blocked
    RATE_LIMIT = "RATE_LIMIT"    # the client passed its query budget: REFUSED (logged once a window)
    SCHOOL = "SCHOOL"            # the school group: beats blocked categories and apps, not a window that blocks all
    UNFILTERED = "UNFILTERED"    # a profile with filtering off (the parents' own devices): allowed, still logged
    BUDGET = "BUDGET"            # a time budget spent for today: its apps and categories blocked until midnight
    QUARANTINE = "QUARANTINE"    # a device nobody has assigned, with unknown_devices: quarantine: essentials only


@dataclass(frozen=True, slots=True)
class Decision:
    """One answer's verdict. Stored as is in the query log so the admin can say why without recomputing."""

    action: Action
    reason: Reason
    profile: str
    list: str | None = None       # the category, app or list that matched ("dating", "app:tiktok", ...)
    rule: str | None = None       # the rule that matched (e.g. "omegle.com" for www.omegle.com)
    schedule: str | None = None   # the schedule window that was in force
    target: str | None = None     # for REWRITE: the safe-search host
    nxdomain: bool = False        # BLOCK answered NXDOMAIN whatever block_answer says (canary, bypass)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["action"] = self.action.value
        d["reason"] = self.reason.value
        return d


@dataclass(frozen=True, slots=True)
class Client:
    """Who asked: the address the query came from, what we learned of the device, and the profile it gets."""

    address: str
    mac: str | None
    device: str | None    # configured device name, or None for a device nobody has assigned
    profile: str
