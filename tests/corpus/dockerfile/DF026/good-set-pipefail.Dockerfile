# busybox ash (Alpine's /bin/sh) has `set -o pipefail`.
FROM python:3.13.9-alpine3.22 AS alpine
RUN set -o pipefail && pip freeze | grep -i flask > /versions.txt
RUN set -euxo pipefail; \
    apk info | sort > /apk-packages.txt

FROM python:3.13.9-slim-trixie
# Debian's dash has no pipefail: there the script runs under bash.
SHELL ["/bin/bash", "-c"]
RUN set -Eeuxo pipefail; \
    savedAptMark="$(apt-mark showmanual)"; \
    apt-mark showmanual | xargs -r apt-mark auto > /dev/null
RUN ["/bin/bash", "-o", "pipefail", "-c", "pip list | sort > /pip-list.txt"]
# An exec-form RUN of a program that is not a shell has no pipes.
RUN ["python3", "-c", "print('a | b')"]
# A | inside quotes is no pipe, and neither is a case pattern.
RUN echo 'a | b' > /x && case "$(cat /x)" in a|b) echo ok;; esac
RUN set -eux; \
    dpkgArch="$(dpkg --print-architecture)"; \
    case "$dpkgArch" in \
        amd64 | arm64 | ppc64el) echo "deb http://apt.example.org/ trixie main" > /etc/apt/sources.list.d/example.list ;; \
        *) echo "unsupported: $dpkgArch" ;; \
    esac
USER nobody
