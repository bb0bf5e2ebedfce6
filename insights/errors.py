"""Errors of the insights layer; each message names the object, the problem and the fix."""

from __future__ import annotations

from connectors.errors import BpoError


class InsightsError(BpoError):
    """Base of the insights layer's user-facing errors (CLI exit code 2)."""


class CatalogError(InsightsError):
    """The KPI catalog is wrong; `problems` lists every problem found, each naming file, object and fix."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class KpiError(InsightsError):
    """A KPI query cannot be answered as asked (unknown KPI, grain or dimension, bad setting)."""


class RulesError(CatalogError):
    """rules.toml or playbooks.toml is wrong; `problems` lists every problem, each naming file, object and fix."""


class ContractError(InsightsError):
    """A contract target was asked for in a way no term can answer (a dimension targets cannot bind)."""


class MoneyError(InsightsError):
    """Amounts cannot be added up as asked (a line without a currency, or in one with no rate in force)."""


class ViewError(InsightsError):
    """A view was asked for with a filter it does not know."""
