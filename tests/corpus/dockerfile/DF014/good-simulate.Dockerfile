FROM debian:trixie-20251117-slim
# A dry run installs nothing, so there are no lists of its own to clean.
RUN apt-get install -s --no-install-recommends curl=8.14.1-2 > /tmp/plan.txt
USER nobody
