"""Regenerate the tables of docs/suite-reference.md from the suite schema and the registered components.

    python scripts/gen_suite_reference.py           # rewrite the generated part in place
    python scripts/gen_suite_reference.py --check   # exit 1 if it is out of date (tests/unit/test_docs.py)

The tables come from harness.reference, which reads the same pydantic models the suite
validator reads; `harness list KIND NAME` prints the same rows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.reference import splice, suite_reference_markdown

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "suite-reference.md"


def main(argv: list[str]) -> int:
    current = REFERENCE.read_text()
    fresh = splice(current, suite_reference_markdown())
    if "--check" in argv:
        if fresh != current:
            print(f"{REFERENCE} is out of date: run python scripts/gen_suite_reference.py", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(fresh)
    print(REFERENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
