"""python3 -m api.migrate: create the schema (run by slipway as a dev after_up hook)."""
import sys

from . import db


def main():
    db.migrate()
    print("migrate: schema is up to date", file=sys.stderr)


if __name__ == "__main__":
    main()
