"""DNS queries with a resolver library (dnspython) to 127.0.0.1:PORT, over
UDP and TCP, never contacting anything else (no system resolv.conf).

usage: dns_client.py PORT
Prints one line per query: `<name> <type> <transport> <rcode>`."""
import sys

import dns.rcode
import dns.resolver
import dns.reversename

port = int(sys.argv[1])
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = port
r.timeout = r.lifetime = 3
r.retry_servfail = False

QUERIES = [
    ("a.loupe.test", "A", False),
    ("a.loupe.test", "AAAA", False),
    ("www.loupe.test", "A", False),
    ("t.loupe.test", "TXT", True),
    ("_http._tcp.loupe.test", "SRV", False),
    ("lib.nx.loupe.test", "A", False),
    ("lib.nx.loupe.test", "AAAA", True),
    (dns.reversename.from_address("10.0.0.1").to_text(omit_final_dot=True), "PTR", False),
]
for name, rdtype, tcp in QUERIES:
    try:
        r.resolve(name, rdtype, tcp=tcp, search=False, raise_on_no_answer=False)
        rcode = "NOERROR"
    except dns.resolver.NXDOMAIN:
        rcode = "NXDOMAIN"
    print(name, rdtype, "tcp" if tcp else "udp", rcode)
