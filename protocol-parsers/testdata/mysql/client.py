#!/usr/bin/env python3
"""Clients for capture.sh that the mariadb command line cannot play.

Usage:
    client.py binary PORT    mysql-connector-python (pure python): COM_STMT_PREPARE /
                             EXECUTE (binary result sets) / RESET / CLOSE, COM_PING, COM_INIT_DB,
                             LOCAL INFILE, an execute error, COM_QUIT
    client.py pymysql PORT   PyMySQL: text protocol with parameters escaped into the SQL
    client.py multi PORT     PyMySQL with CLIENT_MULTI_STATEMENTS: several statements in one
                             COM_QUERY (the mariadb client splits them itself), one failing
"""
import os
import sys
import tempfile


def binary(port):
    import mysql.connector

    c = mysql.connector.connect(host="127.0.0.1", port=port, user="root", database="app",
                                use_pure=True, ssl_disabled=True, allow_local_infile=True)
    cur = c.cursor(prepared=True)
    cur.execute("SELECT id, name, score FROM users WHERE id > ? AND name <> ?", (0, "secret-param"))
    cur.fetchall()
    cur.execute("SELECT id, name, score FROM users WHERE id > ? AND name <> ?", (1, "other-secret"))
    cur.fetchall()
    cur.execute("INSERT INTO users VALUES (?, ?, ?)", (20, "param-name", 1.5))
    cur.execute("UPDATE users SET score = ? WHERE id = ?", (2.5, 20))
    try:
        cur.execute("INSERT INTO users VALUES (?, ?, ?)", (20, "dup-param", 1))
    except mysql.connector.Error:
        pass
    cur.close()
    # Statement commands by hand: prepare, reset, close.
    stmt = c.cmd_stmt_prepare(b"SELECT COUNT(*) FROM users WHERE score > 1")
    c.cmd_stmt_reset(stmt["statement_id"])
    c.cmd_stmt_close(stmt["statement_id"])
    c.cmd_ping()
    c.cmd_init_db("mysql")
    c.cmd_init_db("app")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("30\tfile-secret\t1\n31\tfile-secret2\t2\n")
        path = f.name
    plain = c.cursor()
    plain.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE users")
    plain.execute("SELECT name FROM users WHERE id IN (30, 31)")
    plain.fetchall()
    plain.close()
    os.unlink(path)
    c.commit()
    c.close()


def pymysql_case(port):
    import pymysql

    c = pymysql.connect(host="127.0.0.1", port=port, user="root", database="app")
    with c.cursor() as cur:
        cur.execute("SELECT name FROM users WHERE name = %s AND id < %s", ("it's \"quoted\"", 100))
        cur.executemany("INSERT INTO users VALUES (%s, %s, %s)",
                        [(40, "p1", 1), (41, "p2", 2), (42, "p3", 3)])
        cur.execute("SELECT * FROM users WHERE name LIKE %s", ("p%",))
        cur.fetchall()
        try:
            cur.execute("SELECT nope FROM users")
        except pymysql.MySQLError:
            pass
        cur.callproc("no_such_procedure", (1,)) if False else None
    c.commit()
    c.close()


def multi(port):
    import pymysql
    from pymysql.constants import CLIENT

    c = pymysql.connect(host="127.0.0.1", port=port, user="root", database="app",
                        client_flag=CLIENT.MULTI_STATEMENTS)
    with c.cursor() as cur:
        cur.execute("INSERT INTO users VALUES (10, 'dave', 1); "
                    "SELECT name FROM users WHERE id >= 2; "
                    "UPDATE users SET name = 'x' WHERE id = 10")
        while cur.nextset():
            pass
        try:
            cur.execute("SELECT 1; SELECT * FROM nope; SELECT 2")
            while cur.nextset():
                pass
        except pymysql.MySQLError:
            pass
    c.commit()
    c.close()


if __name__ == "__main__":
    {"binary": binary, "pymysql": pymysql_case, "multi": multi}[sys.argv[1]](int(sys.argv[2]))
