"""The parent's web admin (Flask). Built by its own issue; it will change state only through ``appliance``
modules (config save with validation, overrides in the db) and ask the DNS daemon to reload over its control
socket (``appliance.control``)."""
