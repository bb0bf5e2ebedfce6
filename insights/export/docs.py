"""The README's KPI definitions table, rendered from the catalog (so the docs cannot drift from it).

`python -m insights.export.docs` prints the table; `python -m insights.export.docs --write-readme [README]`
rewrites the block between the markers below in place (appending a section if they are absent).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from insights import format
from insights.catalog import Catalog, Kpi, load_catalog

START, END = "<!-- kpi-table:start -->", "<!-- kpi-table:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"
REGENERATE = "python -m insights.export.docs --write-readme"
_DIRECTION = {"higher_is_better": "higher", "lower_is_better": "lower", "neutral": "–"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def kpi_formula(kpi: Kpi, catalog: Catalog) -> str:
    """How a KPI is computed, in one line of Markdown."""
    if kpi.type == "simple":
        m = catalog.measures.get(kpi.numerator or "")
        if m is not None and m.agg == "open_at_period_end":
            return f"`{m.name}` at period end ({m.table} opened and not yet `{m.until}`)"
        return f"Σ `{kpi.numerator}`"
    if kpi.type == "quantile":
        m = catalog.measures[kpi.measure or ""]
        return f"p{round((kpi.quantile or 0) * 100)} of `{m.column or m.expression}` ({m.table}, exact)"
    if kpi.type == "derived" and kpi.expression:
        return f"`{kpi.expression}`"
    text = f"Σ `{kpi.numerator}` / Σ `{kpi.denominator}`"
    if kpi.variants:
        others = ", ".join(f"`{v.name}`" for v in kpi.variants if v.name != kpi.default_variant)
        text += f" (setting `{kpi.setting}`; also {others})"
    return text


def kpi_table_markdown(catalog: Catalog | None = None) -> str:
    """The KPI definitions as a Markdown table, one row per catalog KPI, in catalog order."""
    catalog = catalog or load_catalog()
    lines = ["| KPI | Label | Formula | Unit | Better | Target | What it means |",
             "|---|---|---|---|---|---|---|"]
    for k in catalog.kpis.values():
        target = "" if k.target is None else format.value(k, k.target)
        lines.append("| " + " | ".join(_cell(c) for c in (
            f"`{k.name}`", k.label, kpi_formula(k, catalog), k.unit, _DIRECTION[k.direction], target, k.description,
        )) + " |")
    return "\n".join(lines) + "\n"


def readme_block(text: str) -> str | None:
    """The text between the KPI-table markers of a README (None: the markers are absent)."""
    if START not in text or END not in text:
        return None
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write_readme(path: Path = README, catalog: Catalog | None = None) -> bool:
    """Rewrite the KPI table block of `path` in place (append a section if absent); True if it changed."""
    table = kpi_table_markdown(catalog)
    block = f"{START}\n{table}{END}"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if readme_block(text) is not None:
        head, rest = text.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = text.rstrip("\n") + ("\n\n" if text else "") + f"## KPI definitions\n\n{block}\n"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """Print the KPI table, or rewrite it in the README with --write-readme."""
    p = argparse.ArgumentParser(prog="python -m insights.export.docs", description=__doc__.splitlines()[0])
    p.add_argument("--write-readme", nargs="?", const=str(README), metavar="README",
                   help=f"rewrite the block between {START} and {END} (default: {README})")
    args = p.parse_args(argv)
    if args.write_readme:
        changed = write_readme(Path(args.write_readme))
        sys.stderr.write(f"{args.write_readme}: KPI table {'updated' if changed else 'already up to date'}\n")
    else:
        sys.stdout.write(kpi_table_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
