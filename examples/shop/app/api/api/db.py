"""Database access: one short connection per request keeps the server simple and stateless."""
import os
import threading

import psycopg2

SCHEMA = """
CREATE TABLE IF NOT EXISTS visits (
    id         bigserial PRIMARY KEY,
    visited_at timestamptz NOT NULL DEFAULT now()
)
"""
_schema_lock = threading.Lock()
_schema_ready = False


def connect():
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set")
    return psycopg2.connect(url, connect_timeout=2, application_name="shop-api")


def _create_schema(cur):
    # an advisory lock serialises concurrent CREATE TABLE IF NOT EXISTS (replicas, threads)
    cur.execute("SELECT pg_advisory_xact_lock(20251117)")
    cur.execute(SCHEMA)


def _ensure_schema():
    """Create the table once per process, in its own committed transaction."""
    global _schema_ready
    if _schema_ready:
        return
    with _schema_lock:
        if not _schema_ready:
            migrate()
            _schema_ready = True


def ping():
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    finally:
        conn.close()


def migrate():
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            _create_schema(cur)
    finally:
        conn.close()


def count_visits():
    _ensure_schema()
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM visits")
            return cur.fetchone()[0]
    finally:
        conn.close()


def add_visit():
    _ensure_schema()
    conn = connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO visits DEFAULT VALUES")
            cur.execute("SELECT count(*) FROM visits")
            return cur.fetchone()[0]
    finally:
        conn.close()
