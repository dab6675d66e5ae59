"""The shop's api: a Python 3 stdlib HTTP server over PostgreSQL (psycopg2 from Debian).

Configuration comes from the environment (rendered by slipway from config/<env>/api.env.j2):
  DATABASE_URL   postgresql://app:PASSWORD@db:5432/shop
  APP_ENV        name of the environment (SLIPWAY_ENV, set by slipway, wins)
  GREETING       a non-secret value that differs per environment
  PORT           port to listen on (default 8000)

Run with `python3 -m api`; `python3 -m api.migrate` creates the schema (dev hook),
`python3 -m api.smoke` checks a running environment from inside (stage test).
"""
