FROM python:3.13.9-alpine3.22
# expect DF026
RUN pip freeze | grep -i flask > /versions.txt; set -o pipefail
# `set +o pipefail` switches it off again.
# expect DF026
RUN set -eo pipefail; set +o pipefail; pip list | sort > /pip-list.txt
# A pipe inside a command substitution hides a failure just as well.
# expect DF026
RUN version="$(pip show flask | grep '^Version')" && echo "$version" > /flask-version
USER nobody
