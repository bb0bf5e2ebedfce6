"""The workspace store: canonical tables as Parquet, bpo.toml, the metadata database and the viewer's scope.

    from connectors.store import Scope, Workspace
    ws = Workspace.open("workspace")
    tickets = ws.read("tickets", Scope.of(["acme"], "*"))   # every read is scoped: deny by default

`workspace` (Workspace: scan/read/upsert, import log, cursors), `scope` (Scope, User), `config`
(bpo.toml, checked strictly: tenants, users, FX rates, rate cards), `metadata` (the SQL tables of state.db), `audit` (who signed in, viewed and exported what), `tables` (manifests, atomic writes).
"""
from connectors.store.config import FX_RATE_KEYS, AuthConfig, Config, Delivery, FxRate, RateCard, parse_config, rate_in_force, unconvertible
from connectors.store import audit
from connectors.store.metadata import audit_log, delivery_log, import_log, metadata, rejected_rows, sync_state
from connectors.store.scope import Scope, User
from connectors.store.tables import DEFAULT_WORKSPACE, MANIFEST, UNPARTITIONED, pq_rows
from connectors.store.workspace import UpsertResult, Workspace, utcnow

__all__ = ["DEFAULT_WORKSPACE", "FX_RATE_KEYS", "MANIFEST", "UNPARTITIONED", "AuthConfig", "Config", "Delivery", "FxRate", "RateCard", "Scope", "UpsertResult",
           "User", "Workspace", "audit", "audit_log", "delivery_log", "import_log", "metadata", "parse_config", "pq_rows", "rate_in_force", "rejected_rows",
           "sync_state", "unconvertible", "utcnow"]
