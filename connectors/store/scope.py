"""Who may see what: a viewer's Scope (clients, vendors; deny by default) and the User that carries it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import polars as pl

from connectors.schema import get_table


@dataclass(frozen=True)
class Scope:
    """What a viewer may see. `None` means every value; an empty set means nothing (the default)."""

    clients: frozenset[str] | None = frozenset()
    vendors: frozenset[str] | None = None

    @classmethod
    def everything(cls) -> "Scope":
        return cls(clients=None, vendors=None)

    @classmethod
    def of(cls, clients=None, vendors=None) -> "Scope":
        """Build from lists; `None` or '*' means every value."""
        def norm(v):
            if v is None or v == "*" or (isinstance(v, (list, tuple, set, frozenset)) and "*" in v):
                return None
            return frozenset([v] if isinstance(v, str) else v)
        return cls(clients=norm(clients), vendors=norm(vendors))

    def narrow(self, clients=None, vendors=None) -> "Scope":
        """Intersect with a filter (a filter can only narrow what the viewer may see)."""
        def meet(allowed, wanted):
            if wanted is None:
                return allowed
            wanted = frozenset([wanted] if isinstance(wanted, str) else wanted)
            return wanted if allowed is None else allowed & wanted
        return Scope(meet(self.clients, clients), meet(self.vendors, vendors))

    def allows(self, client_id: str | None, vendor_id: str | None = None) -> bool:
        ok_c = self.clients is None or client_id in self.clients
        ok_v = self.vendors is None or vendor_id is None or vendor_id in self.vendors
        return ok_c and ok_v

    @property
    def key(self) -> str:
        """A stable string for cache keys."""
        f = lambda s: "*" if s is None else ",".join(sorted(s))  # noqa: E731
        return f"clients={f(self.clients)};vendors={f(self.vendors)}"

    def filter_expr(self, table: str) -> pl.Expr:
        spec = get_table(table)
        if self.clients is None:
            e = pl.lit(True)
        else:
            e = pl.col("client_id").is_in(sorted(self.clients))
            if spec.shared_when_client_null:
                e = e | pl.col("client_id").is_null()
        if self.vendors is not None:
            v = pl.col("vendor_id").is_in(sorted(self.vendors))
            if not spec.columns["vendor_id"].required:
                v = v | pl.col("vendor_id").is_null()
            e = e & v
        return e


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class User:
    """A `[[user]]` of bpo.toml: who (name, the email sign-in asserts), what role, what they may see, where alerts go."""

    name: str
    role: str  # admin | brand | vendor
    scope: Scope
    email: str | None = None  # the identity a sign-in maps to this user (lowercase)
    webhook_env: str | None = None  # the environment variable holding this user's chat webhook URL


# --------------------------------------------------------------------------- tenants

ADMIN = "admin"


def _ids(values: frozenset[str] | None) -> str:
    return "*" if values is None else ",".join(sorted(values))


class Viewer(Protocol):
    """Anything that names a role and carries a scope (connectors' `User`, the dashboard's viewer)."""

    @property
    def role(self) -> str: ...
    @property
    def scope(self) -> Scope: ...


def tenant_of(viewer: Viewer | Scope) -> str:
    """The tenant a viewer (and its notes, alerts and audit entries) belongs to: 'admin', 'brand:<clients>' or 'vendor:<vendors>'.

    A user (anything with `role` and `scope`) is placed by its role; a bare `Scope` (the engine knows only the scope) by its shape:
    everything is admin, a scope naming vendors is a vendor's, any other a brand's. A brand user
    limited to some vendors keeps those in its tenant, so it never shares notes with the vendor.

    >>> tenant_of(Scope.of(["acme"], "*")), tenant_of(Scope.of("*", ["northwind"])), tenant_of(Scope.everything())
    ('brand:acme', 'vendor:northwind', 'admin')
    """
    if not isinstance(viewer, Scope):
        role, scope = viewer.role, viewer.scope
    else:
        scope = viewer
        role = ("admin" if scope.clients is None and scope.vendors is None
                else "vendor" if scope.vendors is not None else "brand")
    if role == "admin":
        return ADMIN
    if role == "vendor":
        return f"vendor:{_ids(scope.vendors)}"
    brand = f"brand:{_ids(scope.clients)}"
    return brand if scope.vendors is None else f"{brand}|vendor:{_ids(scope.vendors)}"
