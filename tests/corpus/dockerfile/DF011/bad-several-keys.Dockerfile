FROM php:8.2.18-fpm-bookworm
# expect DF011
ARG GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyz
# expect DF011
ENV AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
# expect DF011
ENV STRIPE_API_KEY=sk_test_51HxYzExampleOnly
# case-insensitive
# expect DF011
ENV Mail_Password=changeme
ENV APP_ENV=production
COPY . /var/www/html
USER www-data
