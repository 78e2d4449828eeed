"""Small things several test modules share."""

#: the keys a manifest must have besides those RunWriter.create fills (schema_version, run_id, status,
#: suite_name, started_at): a hand-made run of a suite with no content
MANIFEST_KEYS = {"suite": {}, "suite_hash": "0" * 64}
