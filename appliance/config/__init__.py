"""The policy file: /etc/hearth/hearth.yaml loaded into frozen dataclasses, and written back.

Every error is collected with its YAML path (``profiles.emma.block[2]: unknown category "datng" ...``) so a
parent fixes them all at once; a daemon that reloads a bad file keeps the old config.

  schema.py   the shapes, each setting's default and range declared once
  reader.py   the reader's tools (errors with paths, scalars from the schema's metadata)
  load.py     YAML → migrated data → Config, one method per part of the file
  migrate.py  older file versions brought up to date before reading
  dump.py     Config → plain data
  save.py     a round-trip edit of the file (comments kept), validated, written atomically, daemon reloaded
"""
from .dump import running_copy, to_data, write_running_copy
from .errors import ConfigError
from .load import CatalogNames, catalog_names, load, load_text, parse, read_yaml, resolve_path
from .schema import (DAYS, DEFAULT_CONFIG_PATH, DEFAULT_PROFILE, PRIVATE_NETWORKS, SCHEMA_VERSION,
                     SHIPPED_BLOCKLISTS, AdminConfig, AlertsConfig, Budget, Config, Device, DnsConfig, Endpoint, IpNetwork,
                     ListsConfig, ListSource, MetricsConfig, Profile, ProxyConfig, QueryLogConfig, RateLimit, UnknownDevices, Upstream,
                     Window)

__all__ = ["to_data", "running_copy", "write_running_copy", "ConfigError", "CatalogNames", "catalog_names", "load", "load_text", "parse", "read_yaml",
           "resolve_path", "DAYS", "DEFAULT_CONFIG_PATH", "DEFAULT_PROFILE", "PRIVATE_NETWORKS", "SCHEMA_VERSION",
           "SHIPPED_BLOCKLISTS", "AdminConfig", "AlertsConfig", "Budget", "Config", "Device", "DnsConfig", "Endpoint",
           "IpNetwork", "ListsConfig", "ListSource", "MetricsConfig", "Profile", "ProxyConfig", "QueryLogConfig", "RateLimit",
           "UnknownDevices", "Upstream", "Window"]
