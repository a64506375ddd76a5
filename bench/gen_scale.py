#!/usr/bin/env python3
"""Writes a migration of N statements for the parse/plan/check scale benchmark: tables
made first (one per 20 statements), then ALTERs, indexes, updates, comments and selects
spread over them. Usage: gen_scale.py pg|mysql N OUT"""
import sys

engine, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tables = max(1, n // 20)
lines = []
for t in range(tables):
    if engine == "pg":
        lines.append(f"CREATE TABLE t{t} (id bigint PRIMARY KEY, a int, note text);")
    else:
        lines.append(f"CREATE TABLE t{t} (id BIGINT PRIMARY KEY, a INT, note VARCHAR(40));")
for i in range(n - tables):
    t = (i * 7919) % tables
    k = i % 5
    if k == 0:
        lines.append(f"ALTER TABLE t{t} ADD COLUMN c{i} int;")
    elif k == 1:
        lines.append(f"CREATE INDEX i{i} ON t{t} (a);")
    elif k == 2:
        lines.append(f"UPDATE t{t} SET a = {i} WHERE id = {i};")
    elif k == 3:
        lines.append(f"-- a comment, then a statement\nSELECT {i};")
    else:
        lines.append(f"DROP INDEX i{i - 3}" + (";" if engine == "pg" else f" ON t{(i - 3) * 7919 % tables};"))
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
