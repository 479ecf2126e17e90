"""From landed text to raw tables: parse, apply the row rules, write `raw.<entity>` (good rows, contract
types, provenance) and `quarantine.<entity>` (one row per broken rule, with the original text).

Every source (file drop, SQL) first lands each entity as a DuckDB table of text columns named after the
contract, in source order; everything after that is shared and runs as set-based DuckDB SQL.
Loads replace the raw and quarantine tables, so loading the same extract twice gives the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb

from sources.contract import ENTITIES, ENTITY_SPECS, Entity
from sources.parsing import choose_date_order, date_sql, number_sql, slash_date_order_sql


def landing_table(entity: str) -> str:
    """Where a source lands an entity as text: a TEMP table (in memory, spilled to DuckDB's temp
    directory when large), so the warehouse file only ever receives raw.* and quarantine.*."""
    return f"temp.main.{entity}__landing"


@dataclass(frozen=True)
class Landed:
    """One entity landed as text: `table` has every contract column (VARCHAR) in source order."""

    entity: str
    table: str
    source: str
    decimal: str = "."  # decimal mark of the source's numbers
    date_order: str = "auto"  # for 1/2/2024-style dates: auto | mdy | dmy
    ignored_columns: tuple[str, ...] = ()
    absent_columns: tuple[str, ...] = ()
    # lines the source could not split into fields: a table (_row_number, column_name, detail, line, key)
    # whose rows are quarantined whole as `malformed_line`; the landed rows are numbered around them
    malformed: str | None = None


@dataclass(frozen=True)
class RowRules:
    """The configurable limits of the row rules (config `sources:`)."""

    min_date: date
    as_of_date: date
    max_future_years: int
    rep_role: str = "field"
    rep_roles: dict[str, str] = field(default_factory=dict)
    capacity_hours: dict[str, float] = field(default_factory=dict)


@dataclass
class EntityReport:
    entity: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    absent_columns: tuple[str, ...] = ()
    note: str = ""


@dataclass
class LoadReport:
    run_id: str
    loaded_at: datetime
    entities: dict[str, EntityReport] = field(default_factory=dict)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _p(col: str) -> str:
    return _q(f"__p_{col}")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    return con.execute(sql).fetchall()[0][0]


def load_landed(
    con: duckdb.DuckDBPyConnection,
    landed: dict[str, Landed],
    rules: RowRules,
    run_id: str,
    loaded_at: datetime,
) -> LoadReport:
    """Validate every landed entity in reference order and write raw.* and quarantine.*; entities not
    landed get empty tables (reps are derived from the accounts' owners instead)."""
    con.execute("create schema if not exists raw")
    con.execute("create schema if not exists quarantine")
    report = LoadReport(run_id=run_id, loaded_at=loaded_at)
    for entity in ENTITIES:
        if entity in landed:
            report.entities[entity] = _load_entity(con, ENTITY_SPECS[entity], landed[entity], rules, report)
        elif entity == "reps":
            continue  # derived from accounts below
        else:
            report.entities[entity] = _empty_entity(con, ENTITY_SPECS[entity], loaded_at, run_id)
        if entity == "accounts" and "reps" not in landed:
            report.entities["reps"] = _derive_reps(con, rules, report)
    # An empty status is left empty here: dbt's dim_accounts infers it from the order lines before the
    # plan's as-of date, so a backfilled quarter never learns it from later orders.
    return report


def _load_entity(
    con: duckdb.DuckDBPyConnection, spec: Entity, landed: Landed, rules: RowRules, report: LoadReport
) -> EntityReport:
    # working tables are TEMP: in memory (spilled to DuckDB's temp directory when large), never written
    # to the warehouse file, which halves the cost of a load
    typed, viol = f"temp.main.{spec.name}__typed", f"temp.main.{spec.name}__violations"
    _typed_table(con, spec, landed, rules, typed)
    con.execute(f"drop table if exists {landed.table}")  # the typed table holds the original text too
    con.execute(
        f"create or replace temp table {viol} (_row_number bigint, rule varchar, column_name varchar, detail varchar)"
    )
    _row_rules(con, spec, landed, rules, typed, viol)
    _duplicates(con, spec, typed, viol)
    _references(con, spec, typed, viol, reps_landed="reps" in report.entities and spec.name == "accounts")
    _write_quarantine(con, spec, typed, viol, landed, report)
    loaded = _write_raw(con, spec, typed, viol, landed.source, report)
    malformed = int(_scalar(con, f"select count(*) from {landed.malformed}")) if landed.malformed else 0
    read = _scalar(con, f"select count(*) from {typed}") + malformed
    by_rule = dict(con.execute(f"select rule, count(*) from {viol} group by 1 order by 1").fetchall())
    if malformed:
        by_rule["malformed_line"] = malformed
    quarantined = _scalar(con, f"select count(distinct _row_number) from {viol}") + malformed
    for table in (typed, viol, landed.malformed or typed):
        con.execute(f"drop table if exists {table}")
    return EntityReport(
        entity=spec.name,
        source=landed.source,
        rows_read=int(read),
        rows_loaded=loaded,
        rows_quarantined=int(quarantined),
        by_rule={k: int(v) for k, v in by_rule.items()},
        ignored_columns=landed.ignored_columns,
        absent_columns=landed.absent_columns,
    )


def _typed_table(con, spec: Entity, landed: Landed, rules: RowRules, typed: str) -> None:
    """Original text plus one parsed column per contract column (`__p_<col>`), with the row number."""
    dates = [c for c, t in spec.columns.items() if t == "DATE"]
    orders = {}
    if dates:
        profile = con.execute(
            "select " + ", ".join(slash_date_order_sql(_q(c)) for c in dates) + f" from {landed.table}"
        ).fetchall()[0]
        for i, c in enumerate(dates):
            orders[c] = choose_date_order(profile[2 * i], profile[2 * i + 1], landed.date_order)
    parsed = []
    for col, sql_type in spec.columns.items():
        text = f"nullif(trim({_q(col)}), '')"
        if sql_type in ("DOUBLE", "INTEGER"):
            expr = number_sql(text, landed.decimal)
            if spec.name == "transactions" and col == "discount":
                expr = f"(case when {text} is null then 0.0 else {expr} end)"  # empty discount: none given
            if spec.name == "reps" and col == "capacity_hours":
                cap = " ".join(f"when {_lit(r)} then {float(h)!r}" for r, h in rules.capacity_hours.items())
                role = f"lower(trim({_q('role')}))"
                expr = (
                    f"(case when {text} is null then (case {role} {cap} end) else {expr} end)"
                    if cap
                    else expr
                )
        elif sql_type == "DATE":
            expr = date_sql(text, orders[col])
        elif col in spec.enums:
            expr = f"lower(regexp_replace({text}, '[\\s-]+', '_', 'g'))"
        else:
            expr = text
        parsed.append(f"{expr} as {_p(col)}")
    originals = ", ".join(_q(c) for c in spec.columns)
    con.execute(
        f"create or replace temp table {typed} as select {_row_number_sql(landed)} as _row_number, "
        f"{originals}, {', '.join(parsed)} from {_numbered_source(landed)}"
    )


def _numbered_source(landed: Landed) -> str:
    """The landed rows, joined (when lines were malformed) to how many malformed lines precede each."""
    if not landed.malformed:
        return landed.table
    # the k-th malformed line (in order) at row r has g = r - k good rows before it; a good row with
    # 0-based position p follows every malformed line whose g <= p
    # (adjacent malformed lines share g: keep the largest k of each g, or the join may pick a smaller one)
    gaps = (
        f"select g, max(k) as k from (select _row_number - row_number() over (order by _row_number) as g, "
        f"row_number() over (order by _row_number) as k from {landed.malformed}) group by g"
    )
    return (
        f"(select l.*, coalesce(m.k, 0) as __skipped from (select *, rowid as __pos from {landed.table}) l "
        f"asof left join ({gaps}) m on l.__pos >= m.g order by l.__pos)"
    )


def _row_number_sql(landed: Landed) -> str:
    """Row number in the source (1 = first data row), counting malformed lines too."""
    return "rowid + 1" if not landed.malformed else "__pos + 1 + __skipped"


def _row_rules(con, spec: Entity, landed: Landed, rules: RowRules, typed: str, viol: str) -> None:
    """Rules a row breaks on its own: empty key or value, unparseable text, ranges, dates, allowed values."""
    checks: list[tuple[str, str, str, str]] = []  # (rule, column, condition, detail sql)
    key = spec.key
    checks.append(("null_key", key, f"{_p(key)} is null", _lit(f"{key} is empty; every row needs one")))
    for col in spec.not_null:
        checks.append(
            (
                "missing_value",
                col,
                f"nullif(trim({_q(col)}), '') is null and {_p(col)} is null",
                _lit(f"{col} is empty; the plan needs it"),
            )
        )
    example = "1,234.56" if landed.decimal == "." else "1.234,56"
    for col, sql_type in spec.columns.items():
        has_text = f"nullif(trim({_q(col)}), '') is not null"
        if sql_type in ("DOUBLE", "INTEGER"):
            checks.append(
                (
                    "unparseable_number",
                    col,
                    f"{has_text} and {_p(col)} is null",
                    _lit(f"not a number with decimal mark '{landed.decimal}' (e.g. {example})"),
                )
            )
        if sql_type == "DATE":
            checks.append(
                (
                    "unparseable_date",
                    col,
                    f"{has_text} and {_p(col)} is null",
                    _lit("not a date (use 2024-03-31, 31.03.2024 or 03/31/2024)"),
                )
            )
    for col in spec.whole_numbers:
        checks.append(
            (
                "unparseable_number",
                col,
                f"{_p(col)} <> round({_p(col)})",
                _lit(f"{col} must be a whole number"),
            )
        )
    for col, (lo, hi) in spec.ranges.items():
        cond = " or ".join(
            ([f"{_p(col)} < {lo!r}"] if lo is not None else [])
            + ([f"{_p(col)} > {hi!r}"] if hi is not None else [])
        )
        allowed = f"{'' if lo is None else lo} .. {'' if hi is None else hi}"
        checks.append(("out_of_range", col, f"({cond})", _lit(f"{col} must be within {allowed}")))
    latest_future = date(rules.as_of_date.year + rules.max_future_years, rules.as_of_date.month, 28)
    for col, latest in [(c, rules.as_of_date) for c in spec.history_dates] + [
        (c, latest_future) for c in spec.future_dates
    ]:
        checks.append(
            (
                "impossible_date",
                col,
                f"({_p(col)} < date {_lit(rules.min_date.isoformat())} or {_p(col)} > date {_lit(latest.isoformat())})",
                _lit(f"{col} must lie between {rules.min_date} and {latest}"),
            )
        )
    for col, allowed in spec.enums.items():
        values = ", ".join(_lit(v) for v in allowed)
        checks.append(
            (
                "invalid_value",
                col,
                f"{_p(col)} not in ({values})",
                _lit(f"{col} must be one of {', '.join(allowed)}"),
            )
        )
    selects = [
        f"select _row_number, {_lit(rule)}, {_lit(col)}, {detail} from {typed} where {cond}"
        for rule, col, cond, detail in checks
    ]
    con.execute(f"insert into {viol} " + " union all ".join(selects))


def _duplicates(con, spec: Entity, typed: str, viol: str) -> None:
    """Among rows that pass their own rules, the first row of a key (file order) is kept; later rows go
    to quarantine, saying whether they copy the kept row or conflict with it."""
    key = _p(spec.key)
    values = ", ".join(_p(c) for c in spec.columns)
    con.execute(
        f"""
        insert into {viol}
        with good as (
            select * from {typed} t
            where not exists (select 1 from {viol} v where v._row_number = t._row_number)
        ),
        dup_keys as (select {key} as k from good where {key} is not null group by 1 having count(*) > 1),
        ranked as (
            select _row_number, {key} as k, hash({values}) as h,
                   first_value(_row_number) over w as kept_row, first_value(hash({values})) over w as kept_h
            from good semi join dup_keys on good.{key} = dup_keys.k
            window w as (partition by {key} order by _row_number)
        )
        select _row_number, 'duplicate_key', {_lit(spec.key)},
               case when h = kept_h then 'identical copy of row ' || kept_row || ' (kept)'
                    else 'conflicts with row ' || kept_row || ' (kept); correct one of them' end
        from ranked where _row_number <> kept_row
        """
    )


def _references(con, spec: Entity, typed: str, viol: str, reps_landed: bool) -> None:
    """Rows naming an account (or rep, or parent account) that did not load."""
    if spec.account_ref:
        ref = _p(spec.account_ref)
        con.execute(
            f"""
            insert into {viol}
            with held as (
                select distinct trim(json_extract_string(record, '$.account_id')) as account_id
                from quarantine.accounts
            )
            select t._row_number, 'unknown_account', {_lit(spec.account_ref)},
                   'account ' || t.{ref} || case when held.account_id is not null
                        then ' is in quarantine.accounts' else ' is not in the accounts extract' end
            from {typed} t left join held on held.account_id = t.{ref}
            where t.{ref} is not null
              and not exists (select 1 from {viol} v where v._row_number = t._row_number)
              and not exists (select 1 from raw.accounts a where a.account_id = t.{ref})
            """
        )
    if spec.name != "accounts":
        return
    if reps_landed:
        con.execute(
            f"""
            insert into {viol}
            select _row_number, 'unknown_reference', 'owner_rep_id',
                   'rep ' || {_p("owner_rep_id")} || ' is not in the loaded reps'
            from {typed} t
            where {_p("owner_rep_id")} is not null
              and not exists (select 1 from {viol} v where v._row_number = t._row_number)
              and {_p("owner_rep_id")} not in (select rep_id from raw.reps)
            """
        )
    # a parent must itself load; repeat so a chain of children follows a quarantined parent
    while True:
        added = con.execute(
            f"""
            insert into {viol}
            select _row_number, 'unknown_reference', 'parent_account_id',
                   'parent account ' || {_p("parent_account_id")} || ' is not loaded'
            from {typed} t
            where {_p("parent_account_id")} is not null
              and not exists (select 1 from {viol} v where v._row_number = t._row_number)
              and {_p("parent_account_id")} not in (
                  select {_p("account_id")} from {typed} g
                  where {_p("account_id")} is not null
                    and not exists (select 1 from {viol} v where v._row_number = g._row_number))
            """
        ).fetchall()[0][0]
        if not added:
            break


def _write_quarantine(con, spec: Entity, typed: str, viol: str, landed: Landed, report: LoadReport) -> None:
    source = landed.source
    original = (
        "case v.column_name " + " ".join(f"when {_lit(c)} then t.{_q(c)}" for c in spec.columns) + " end"
    )
    record = "to_json(struct_pack(" + ", ".join(f"{_q(c)} := t.{_q(c)}" for c in spec.columns) + "))"
    con.execute(
        f"""
        create or replace table quarantine.{spec.name} as
        select {_lit(source)} as _source, v._row_number, v.rule, v.column_name,
               coalesce({original}, '') as original_value, v.detail, {record} as record,
               {_stamp(report)}
        from {viol} v join {typed} t using (_row_number)
        {_malformed_quarantine(spec, landed, report)}
        order by _row_number, rule, column_name
        """
    )


def _malformed_quarantine(spec: Entity, landed: Landed, report: LoadReport) -> str:
    """The malformed lines as quarantine rows: the whole line is the original text; the record holds the
    line and the key as far as the line splits (so dependants can say their account is in quarantine)."""
    if not landed.malformed:
        return ""
    return (
        f"union all select {_lit(landed.source)}, _row_number, 'malformed_line', column_name, line, detail, "
        f"to_json(struct_pack({_q(spec.key)} := key, line := line)), {_stamp(report)} from {landed.malformed}"
    )


def _write_raw(con, spec: Entity, typed: str, viol: str, source: str, report: LoadReport) -> int:
    cols = ", ".join(f"cast({_p(c)} as {t}) as {_q(c)}" for c, t in spec.columns.items())
    con.execute(
        f"""
        create or replace table raw.{spec.name} as
        select {cols}, {_lit(source)} as _source, _row_number,
               {_stamp(report)}
        from {typed} t
        where not exists (select 1 from {viol} v where v._row_number = t._row_number)
        """  # the typed table is in source order and a filtered scan keeps it: no sort needed
    )
    return int(_scalar(con, f"select count(*) from raw.{spec.name}"))


def _stamp(report: LoadReport) -> str:
    return (
        f"timestamp {_lit(report.loaded_at.isoformat(sep=' '))} as _loaded_at, "
        f"{_lit(report.run_id)} as _run_id"
    )


def _empty_entity(con, spec: Entity, loaded_at: datetime, run_id: str) -> EntityReport:
    """An entity the source did not deliver: empty raw and quarantine tables, so dbt sees every table."""
    cols = ", ".join(f"cast(null as {t}) as {_q(c)}" for c, t in spec.columns.items())
    con.execute(
        f"create or replace table raw.{spec.name} as select {cols}, cast(null as varchar) as _source, "
        f"cast(null as bigint) as _row_number, cast(null as timestamp) as _loaded_at, "
        f"cast(null as varchar) as _run_id limit 0"
    )
    empty_quarantine(con, spec.name)
    return EntityReport(entity=spec.name, source="(not delivered)", note="not in the extract: empty table")


def _derive_reps(con, rules: RowRules, report: LoadReport) -> EntityReport:
    """No reps extract: one rep per distinct accounts.owner_rep_id. Role: `sources.reps_from_owners`
    (a default plus per-rep exceptions); capacity: `workload.capacity_hours` of that role; home: the mean
    location and most common city/state of the rep's accounts; name: the rep id."""
    roles = {rules.rep_role, *rules.rep_roles.values()}
    missing = sorted(r for r in roles if r not in rules.capacity_hours)
    if missing:
        raise ValueError(
            f"config/plan.yaml sources.reps_from_owners: role(s) {missing} have no workload.capacity_hours; "
            f"add them there or pick one of {sorted(rules.capacity_hours)}"
        )
    role = _lit(rules.rep_role)
    if rules.rep_roles:
        exceptions = " ".join(f"when {_lit(r)} then {_lit(x)}" for r, x in rules.rep_roles.items())
        role = f"case owner_rep_id {exceptions} else {role} end"
    capacity = (
        "case role "
        + " ".join(f"when {_lit(r)} then {float(h)!r}" for r, h in rules.capacity_hours.items())
        + " end"
    )
    source = "derived from accounts.owner_rep_id"
    con.execute(
        f"""
        create or replace table raw.reps as
        with places as (
            select owner_rep_id, city, state, count(*) as n
            from raw.accounts where owner_rep_id is not null group by all
        ),
        homes as (
            select *, row_number() over (partition by owner_rep_id order by n desc, state, city) as rank
            from places
        ),
        owners as (
            select owner_rep_id, {role} as role, h.city as home_city, h.state as home_state,
                   avg(a.lat) as home_lat, avg(a.lon) as home_lon
            from raw.accounts a join homes h using (owner_rep_id)
            where h.rank = 1
            group by all
        )
        select owner_rep_id as rep_id, owner_rep_id as rep_name, role, home_city, home_state,
               home_lat, home_lon, cast({capacity} as double) as capacity_hours,
               {_lit(source)} as _source, row_number() over (order by owner_rep_id) as _row_number,
               {_stamp(report)}
        from owners order by owner_rep_id
        """
    )
    empty_quarantine(con, "reps")
    n = int(_scalar(con, "select count(*) from raw.reps"))
    return EntityReport(
        entity="reps",
        source=source,
        rows_read=n,
        rows_loaded=n,
        note=f"no reps extract: {n} reps from owner_rep_id, role {rules.rep_role!r} unless listed, "
        "capacity from workload.capacity_hours",
    )


def empty_quarantine(con, entity: str) -> None:
    con.execute(
        f"create or replace table quarantine.{entity} as select cast(null as varchar) as _source, "
        "cast(null as bigint) as _row_number, cast(null as varchar) as rule, cast(null as varchar) as column_name, "
        "cast(null as varchar) as original_value, cast(null as varchar) as detail, cast(null as json) as record, "
        "cast(null as timestamp) as _loaded_at, cast(null as varchar) as _run_id limit 0"
    )
