FROM nginx:1.25.4-bookworm

COPY nginx/default.conf /etc/nginx/conf.d/default.conf
COPY public/ /usr/share/nginx/html/
# expect DF000
EXPOSES 8080
CMD ["nginx", "-g", "daemon off;"]
