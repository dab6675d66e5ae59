# syntax=docker/dockerfile:1
FROM python:3.13.9-slim-trixie
RUN <<EOF
#!/bin/bash
set -euo pipefail
pip freeze | grep -i flask > /versions.txt
EOF

RUN <<EOF
#!/bin/bash -o pipefail
pip list | sort > /pip-list.txt
EOF

RUN <<EOF
#!/usr/bin/env python3
import subprocess
print(open("/etc/os-release").read().split("\n")[0])  # a | in Python is not a pipe
x = 1 | 2
EOF

# A heredoc that writes a file is not run here.
RUN cat > /usr/local/bin/healthcheck <<'EOF'
#!/bin/sh
curl -fsS http://localhost:8000/health | grep -q ok
EOF

USER nobody
