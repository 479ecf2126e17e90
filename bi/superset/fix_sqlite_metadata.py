"""Drop the legacy UNIQUE (table_name) constraint from Superset's SQLite metadata.

On PostgreSQL/MySQL metadata Superset's migrations replace it with a per-database key, but SQLite
cannot drop a constraint, so a fresh SQLite metadata database refuses a second dataset named like an
existing one, even on another database ("UNIQUE constraint failed: tables.table_name"): the same view
`latest_account_plan` on the DuckDB file and on PostgreSQL. SQLite's documented way out is to rebuild
the table without it. Usage: python fix_sqlite_metadata.py PATH/superset.db
"""

import sqlite3
import sys


def main(path: str) -> None:
    con = sqlite3.connect(path)
    (ddl,) = con.execute("select sql from sqlite_master where type = 'table' and name = 'tables'").fetchone()
    legacy = ", \n\tUNIQUE (table_name)"
    if legacy not in ddl:
        return
    con.execute("pragma foreign_keys = off")
    with con:
        con.execute(
            ddl.replace('CREATE TABLE "tables"', 'CREATE TABLE "tables__rebuilt"').replace(legacy, "")
        )
        con.execute('insert into "tables__rebuilt" select * from "tables"')
        con.execute('drop table "tables"')
        con.execute('alter table "tables__rebuilt" rename to "tables"')
    con.close()


if __name__ == "__main__":
    main(sys.argv[1])
