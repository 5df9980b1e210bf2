"""A small MCP server over the classic cars data: the CSV loaded into SQLite in memory.

agentteam starts it over stdio for a run (see teams/cars_sql.yaml); its tools appear
to agents as `cars.schema` and `cars.query`. Only SELECT statements are answered.
"""

import csv
import os
import sqlite3
from pathlib import Path

try:                                   # mcp 2
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:                    # mcp 1
    from mcp.server.fastmcp import FastMCP as MCPServer
    from mcp.server.fastmcp.exceptions import ToolError

CSV = Path(os.environ.get("CARS_CSV", Path(__file__).resolve().parent.parent / "data" / "cars.csv"))
server = MCPServer("cars")


def _database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    with open(CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    text = ("Name", "Year", "Origin")
    columns = ", ".join(f"{h} {'TEXT' if h in text else 'REAL'}" for h in header)
    db.execute(f"CREATE TABLE cars ({columns})")
    db.executemany(f"INSERT INTO cars VALUES ({', '.join('?' * len(header))})",
                   [[v if v != "" else None for v in r] for r in body])
    return db


DB = _database()


@server.tool()
def schema() -> str:
    """The columns of the `cars` table and how many rows it has."""
    cols = [f"{r[1]} {r[2]}" for r in DB.execute("PRAGMA table_info(cars)")]
    count = DB.execute("SELECT COUNT(*) FROM cars").fetchone()[0]
    return f"table cars ({count} rows): " + ", ".join(cols)


@server.tool()
def query(sql: str) -> str:
    """Run one read-only SQL SELECT on the `cars` table; at most 50 rows come back."""
    if not sql.lstrip().lower().startswith(("select", "with")):
        raise ToolError("only SELECT queries are allowed")
    try:
        cur = DB.execute(sql)
    except sqlite3.Error as e:       # the model reads the error and fixes its query
        raise ToolError(f"SQL error: {e}") from None
    names = [d[0] for d in cur.description or []]
    rows = cur.fetchmany(50)
    return "\n".join([" | ".join(names)] + [" | ".join(str(v) for v in r) for r in rows])


if __name__ == "__main__":
    server.run()
