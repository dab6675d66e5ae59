#!/usr/bin/env python3
"""Validates a JSON document (stdin) against a JSON Schema file; prints every error, exits 1 on any."""
import json
import sys

import jsonschema

schema_path = sys.argv[1]
with open(schema_path, encoding="utf-8") as handle:
    schema = json.load(handle)
document = json.load(sys.stdin)
validator_class = jsonschema.validators.validator_for(schema)
errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: list(e.path))
for error in errors:
    print(f"{'/'.join(str(p) for p in error.path)}: {error.message}")
sys.exit(1 if errors else 0)
