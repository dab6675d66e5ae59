FROM python:3.13.9-slim-trixie
RUN set -o pipefail && pip freeze | grep -i flask > /versions.txt
RUN set -Eeuxo pipefail; \
    savedAptMark="$(apt-mark showmanual)"; \
    apt-mark showmanual | xargs -r apt-mark auto > /dev/null
RUN ["/bin/bash", "-o", "pipefail", "-c", "pip list | sort > /pip-list.txt"]
# An exec-form RUN of a program that is not a shell has no pipes.
RUN ["python3", "-c", "print('a | b')"]
# Pipes inside quotes, command substitution and case patterns.
RUN echo 'a | b' > /x && v="$(echo a | tr a b)" && case "$v" in a|b) echo ok;; esac
USER nobody
