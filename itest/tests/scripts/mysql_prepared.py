"""Server-side prepared statements against MariaDB over TCP 127.0.0.1 with
mysql-connector-python: `cursor(prepared=True)` sends COM_STMT_PREPARE once
per statement, COM_STMT_RESET + COM_STMT_EXECUTE per call and COM_STMT_CLOSE
when the cursor closes (and a COM_PING when a cursor is made).

usage: mysql_prepared.py PORT USER N
Prints one line per statement: `<sql>\t<executions>`."""
import sys

import mysql.connector

port, user, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = mysql.connector.connect(
    host="127.0.0.1", port=port, user=user, use_pure=True, autocommit=True
)
for sql, params in [
    ("INSERT INTO loupe.items (name, n) VALUES (?, ?)", lambda i: ("p%d" % i, i)),
    ("SELECT name, n FROM loupe.items WHERE n >= ?", lambda i: (i,)),
]:
    cur = conn.cursor(prepared=True)
    for i in range(n):
        cur.execute(sql, params(i))
        if cur.with_rows:
            cur.fetchall()
    cur.close()
    print("%s\t%d" % (sql, n))
conn.close()
