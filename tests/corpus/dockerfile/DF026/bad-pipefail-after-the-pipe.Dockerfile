FROM python:3.13.9-slim-trixie
# expect DF026
RUN pip freeze | grep -i flask > /versions.txt; set -o pipefail
# `set +o pipefail` switches it off again.
# expect DF026
RUN set -eo pipefail; set +o pipefail; pip list | sort > /pip-list.txt
USER nobody
