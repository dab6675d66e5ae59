FROM nginx:1.25.4-bookworm
COPY default.conf /etc/nginx/conf.d/default.conf
# single quotes are not JSON: Docker runs this through /bin/sh -c
# expect DF018
CMD ['nginx', '-g', 'daemon off;']
