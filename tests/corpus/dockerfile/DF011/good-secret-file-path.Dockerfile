FROM postgres:16.4-bookworm
# The variable names the file the secret is delivered in (/run/secrets on tmpfs), not the secret.
ENV POSTGRES_PASSWORD_FILE=/run/secrets/db-password \
    DATABASE_PASSWORD=/run/secrets/db-password
USER postgres
HEALTHCHECK CMD pg_isready -U postgres
