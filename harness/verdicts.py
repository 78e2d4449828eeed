"""The one vocabulary of verdicts: ``harness compare``, the pytest plugin and the reports print these words.

- ``pass``: within the bound, or beyond it but not significant at the gate's
  ``alpha``, or under the A/A noise floor (a timing).
- ``FAIL``: beyond the bound, significant, and (a timing) beyond the floor.
- ``noisy``: beyond the bound and significant, but the timing cannot be
  trusted: a cell flagged noisy (the rounds' spread above 0.10 in either run), or a
  run measured on a busy machine (its manifest's ``machine_load``). A slow
  phase of the machine shifts a whole cell, which no test on that cell's
  samples can tell from a regression.
- ``undecidable``: beyond the bound, but the design cannot reach the gate's
  ``alpha`` (a rank test on 3 against 3 rounds cannot give p below 0.05):
  never a pass.
- ``refused``: a machine-dependent metric across different hardware.
- ``skipped``: nothing to compare (no baseline value; the teacher's own
  speedup, 1 by construction); ``new``: a model the baseline lacks.

``noisy`` and ``undecidable`` follow the suite's ``gate_policy.noisy``:
``fail`` and ``rerun`` make ``harness compare`` exit 1 (a stored run cannot
be measured again there; the pytest plugin measures again under ``rerun``),
``warn`` lets them pass with a warning.

What a latency p-value proves: a latency gate's test runs on rounds, which
measure each run's precision, not the drift between runs (the same code
reads 4-10% apart from one run to the next on a shared machine). Its p-value
alone is no evidence that the code changed, and every result names the
evidence it rests on (:data:`harness.significance.EVIDENCE`). What guards an
absolute latency gate against drift is its bound and the A/A floor;
``speedup_vs_teacher``, timed in the same rounds as the teacher, cancels the
drift and is the gate to use for "did my change slow the student"
(docs/statistics.md).

>>> Verdict("undecidable") is UNDECIDABLE, UNDECIDABLE in POLICY_VERDICTS, str(FAIL)
(True, True, 'FAIL')
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """A gate's verdict on one cell (see the module's docstring)."""

    PASS = "pass"
    FAIL = "FAIL"
    NOISY = "noisy"
    UNDECIDABLE = "undecidable"
    REFUSED = "refused"
    SKIPPED = "skipped"
    NEW = "new"


PASS, FAIL, NOISY, UNDECIDABLE = Verdict.PASS, Verdict.FAIL, Verdict.NOISY, Verdict.UNDECIDABLE
REFUSED, SKIPPED, NEW = Verdict.REFUSED, Verdict.SKIPPED, Verdict.NEW
#: verdicts that are neither a pass nor a measured regression: the comparison could not decide on its own
UNDECIDED = (REFUSED, NOISY, UNDECIDABLE)
#: verdicts that follow gate_policy.noisy (fail, warn; rerun: measured again, where the pytest plugin can)
POLICY_VERDICTS = (NOISY, UNDECIDABLE)
