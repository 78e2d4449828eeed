from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's model cache: one fresh cache for the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARNESS_CACHE_DIR", str(tmp_path_factory.mktemp("model-cache")))
        yield


#: the signals whose handlers the harness changes (harness.signals) and the tests depend on
_SIGNALS = ("SIGINT", "SIGTERM")


@pytest.fixture(autouse=True)
def _signal_handlers_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with the process's SIGINT and SIGTERM handlers as they were before it, whatever order the
    tests run in: a test (or a library it drives) that leaves a handler installed would otherwise make a later
    test's Ctrl-C do nothing. A leak is restored and reported as a warning naming the test that left it."""
    import signal
    import warnings

    before = {name: signal.getsignal(getattr(signal, name)) for name in _SIGNALS}
    yield
    for name, handler in before.items():
        now = signal.getsignal(getattr(signal, name))
        if now is not handler and handler is not None:
            signal.signal(getattr(signal, name), handler)
            warnings.warn(f"{request.node.nodeid} left {name}'s handler as {now!r}: restored", stacklevel=1)
