"""python3 -m api.smoke: checks a running environment from inside an api container (stage test).

Talks to the database directly and to the api over HTTP ($SMOKE_URL, default http://api:8000).
Exit status 0 when everything answers as expected, 1 otherwise.
"""
import json
import os
import sys
import urllib.request

from . import db
from .__main__ import environment


def get(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, resp.read().decode()


def main():
    base = os.environ.get("SMOKE_URL", "http://api:8000").rstrip("/")
    failures = []

    def check(name, ok, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", name, (": " + detail) if detail else ""))
        if not ok:
            failures.append(name)

    try:
        db.ping()
        check("database answers", True)
    except Exception as exc:
        check("database answers", False, str(exc).strip())

    try:
        status, body = get(base + "/health")
        check("GET /health", status == 200, "%d %s" % (status, body.strip()))
        status, body = get(base + "/api/env")
        env = json.loads(body).get("environment")
        check("GET /api/env names this environment", env == environment(), "%r" % env)
        _, body = get(base + "/api/visits")
        before = json.loads(body)["visits"]
        status, body = get(base + "/api/visits", method="POST")
        after = json.loads(body)["visits"]
        check("POST /api/visits counts", status == 201 and after > before, "%d -> %d" % (before, after))
    except Exception as exc:
        check("api over HTTP at " + base, False, str(exc))

    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
