# escape=`
FROM debian:bookworm-slim
# with the backtick escape, "\" is literal and "`" continues the line
# expect DF013
RUN apt-get update `
    && apt-get install -y nginx=1.22.1-9 `
    && rm -rf /var/lib/apt/lists/*
COPY site/ /var/www/html/
USER www-data
CMD ["nginx", "-g", "daemon off;"]
