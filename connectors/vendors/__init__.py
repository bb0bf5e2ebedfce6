"""API vendors, one file each, listed in one table: a new vendor is one file and one line here.

Each vendor file declares its endpoints and field maps at the top, a small `HttpSource` subclass,
and ends with `VENDOR = Vendor(kind=..., keys=..., auth_header=..., base_url=..., build=...)`. The
sync engine, the `[[source]]` checks of bpo.toml and the shared connector test suite all read
`SOURCES`, so a vendor missing from the suite fails tests/connectors/test_vendor_registry.py.
"""
from connectors.http import Vendor
from connectors.vendors import freshdesk, gorgias, intercom, zendesk

SOURCES: dict[str, Vendor] = {v.kind: v for v in (zendesk.VENDOR, freshdesk.VENDOR, intercom.VENDOR, gorgias.VENDOR)}

__all__ = ["SOURCES", "Vendor"]
