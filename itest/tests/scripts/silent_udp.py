"""A UDP 'DNS server' that reads queries and never answers, so that clients
time out. Logs one line per datagram: `<qname> <qtype>` (ground truth).

usage: silent_udp.py PORT LOGFILE"""
import socket, struct, sys

TYPES = {1: "A", 28: "AAAA", 15: "MX", 16: "TXT", 33: "SRV", 12: "PTR", 5: "CNAME"}

port, log = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
print("listening", port, flush=True)
with open(log, "a") as out:
    while True:
        data, _ = s.recvfrom(4096)
        labels, i = [], 12
        while i < len(data) and data[i] != 0:
            n = data[i]
            labels.append(data[i + 1 : i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = struct.unpack("!H", data[i + 1 : i + 3])[0] if i + 3 <= len(data) else 0
        out.write("%s %s\n" % (".".join(labels), TYPES.get(qtype, "type=%d" % qtype)))
        out.flush()
