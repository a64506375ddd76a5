#!/usr/bin/env python3
"""Writes a folder of real-looking PostgreSQL migration files (Flyway names) for the
check benchmark: a schema that grows over N files - tables created, columns added with
and without defaults, indexes with and without CONCURRENTLY, foreign keys and checks with
and without NOT VALID, type changes, renames, backfills - a few statements per file, with
comments and blank lines as people write them. Deterministic (seeded).

    python3 bench/gen_migrations.py OUT_DIR [FILES]
"""

import os
import random
import sys

WORDS = ["account", "order", "invoice", "payment", "product", "customer", "shipment",
         "address", "session", "event", "subscription", "coupon", "review", "ticket",
         "message", "device", "report", "export", "job", "webhook"]
TYPES = ["text", "varchar(120)", "integer", "bigint", "boolean", "timestamptz",
         "numeric(12,2)", "jsonb", "uuid", "date"]


def main() -> None:
    out = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rng = random.Random(20261122)
    os.makedirs(out, exist_ok=True)
    tables: dict[str, list[str]] = {}
    n_table = 0
    for i in range(1, files + 1):
        lines = [f"-- migration {i}: generated for the zerodown check benchmark", ""]
        desc = "change"
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if not tables or kind < 0.15:
                n_table += 1
                name = f"{rng.choice(WORDS)}s_{n_table}"
                cols = ["id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
                names = ["id"]
                for c in range(rng.randint(2, 8)):
                    col = f"{rng.choice(WORDS)}_{c}"
                    cols.append(f"{col} {rng.choice(TYPES)}")
                    names.append(col)
                cols.append("created_at timestamptz NOT NULL DEFAULT now()")
                names.append("created_at")
                lines.append(f"CREATE TABLE {name} (\n    " + ",\n    ".join(cols) + "\n);")
                tables[name] = names
                desc = f"create_{name}"
                continue
            t = rng.choice(list(tables))
            cols = tables[t]
            col = rng.choice(cols[1:])
            new = f"{rng.choice(WORDS)}_{rng.randint(10, 99)}"
            if kind < 0.35:
                default = rng.choice(["", " DEFAULT 0", " DEFAULT now()", " DEFAULT gen_random_uuid()", ""])
                ty = {" DEFAULT 0": "integer", " DEFAULT now()": "timestamptz",
                      " DEFAULT gen_random_uuid()": "uuid"}.get(default, rng.choice(TYPES))
                nn = " NOT NULL" if default and rng.random() < 0.5 else ""
                lines.append(f"ALTER TABLE {t} ADD COLUMN {new} {ty}{default}{nn};")
                cols.append(new)
            elif kind < 0.5:
                conc = "CONCURRENTLY " if rng.random() < 0.6 else ""
                lines.append(f"CREATE INDEX {conc}{t}_{col}_idx ON {t} ({col});")
            elif kind < 0.58:
                parent = rng.choice(list(tables))
                nv = " NOT VALID" if rng.random() < 0.5 else ""
                lines.append(f"ALTER TABLE {t} ADD CONSTRAINT {t}_{col}_fk FOREIGN KEY ({col}) REFERENCES {parent} (id){nv};")
            elif kind < 0.65:
                nv = " NOT VALID" if rng.random() < 0.5 else ""
                lines.append(f"ALTER TABLE {t} ADD CONSTRAINT {t}_{col}_chk CHECK ({col} IS NOT NULL){nv};")
            elif kind < 0.72:
                lines.append(f"ALTER TABLE {t} ALTER COLUMN {col} SET NOT NULL;")
            elif kind < 0.78:
                lines.append(f"ALTER TABLE {t} ALTER COLUMN {col} TYPE {rng.choice(['text', 'bigint', 'varchar(255)'])};")
            elif kind < 0.83:
                lines.append(f"-- backfill {new}\nUPDATE {t} SET {col} = {col} WHERE id < {rng.randint(1000, 100000)};")
            elif kind < 0.88:
                lines.append(f"ALTER TABLE {t} RENAME COLUMN {col} TO {new};")
                cols[cols.index(col)] = new
            elif kind < 0.92:
                lines.append(f"ALTER TABLE {t} DROP COLUMN {col};")
                cols.remove(col)
                if len(cols) < 2:
                    cols.append("created_at")
            elif kind < 0.96:
                lines.append(f"SET lock_timeout = '2s';\nALTER TABLE {t} ADD COLUMN {new} text;")
                cols.append(new)
            else:
                lines.append(f"COMMENT ON TABLE {t} IS 'owned by team {rng.randint(1, 9)}';")
            lines.append("")
            desc = f"change_{t}"
        with open(os.path.join(out, f"V{i}__{desc}.sql"), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
