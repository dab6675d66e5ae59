FROM nginx:1.25.4-bookworm
# nginx is pinned, gettext-base is not
# expect DF022
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-module-njs=1.25.4+0.8.3-1~bookworm gettext-base \
    && rm -rf /var/lib/apt/lists/*
