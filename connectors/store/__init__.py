"""The workspace store: canonical tables as Parquet, bpo.toml, the metadata database and the viewer's scope.

    from connectors.store import Scope, Workspace
    ws = Workspace.open("workspace")
    tickets = ws.read("tickets", Scope.of(["acme"], "*"))   # every read is scoped: deny by default

`workspace` (Workspace: scan/read/upsert, import log, cursors), `scope` (Scope, User), `config`
(bpo.toml, checked strictly: tenants, users, FX rates, rate cards), `metadata` (the SQL tables of state.db), `audit` (who signed in, viewed and exported what), `tables` (manifests, atomic writes).

The metadata database's names (`audit`, `import_log`, ...) load SQLAlchemy, so they are imported on first
use: reading KPIs from the Parquet tables never pays for it (a command starts in less time). The SQLAlchemy
MetaData of state.db is `connectors.store.metadata.metadata` (`connectors.store.metadata` is that module).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from connectors.store.config import FX_RATE_KEYS, AuthConfig, Config, Delivery, FxRate, RateCard, parse_config, rate_in_force, unconvertible
from connectors.store.scope import Scope, User
from connectors.store.tables import DEFAULT_WORKSPACE, MANIFEST, UNPARTITIONED, pq_rows
from connectors.store.workspace import UpsertResult, Workspace, utcnow

if TYPE_CHECKING:
    from connectors.store import audit
    from connectors.store.metadata import audit_log, delivery_log, import_log, rejected_rows, sync_state

_LAZY = {"audit": "connectors.store.audit", "audit_log": "connectors.store.metadata",
         "delivery_log": "connectors.store.metadata", "import_log": "connectors.store.metadata",
         "rejected_rows": "connectors.store.metadata",
         "sync_state": "connectors.store.metadata"}


def __getattr__(name: str) -> Any:
    """The metadata database's names, imported when first asked for (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "audit" else getattr(module, name)
    globals()[name] = value
    return value


__all__ = ["DEFAULT_WORKSPACE", "FX_RATE_KEYS", "MANIFEST", "UNPARTITIONED", "AuthConfig", "Config", "Delivery", "FxRate", "RateCard", "Scope", "UpsertResult",
           "User", "Workspace", "audit", "audit_log", "delivery_log", "import_log", "parse_config", "pq_rows", "rate_in_force", "rejected_rows",
           "sync_state", "unconvertible", "utcnow"]
