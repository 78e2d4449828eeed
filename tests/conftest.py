import signal
import warnings
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


#: the signals whose handlers the harness changes (harness.signals) and the tests depend on, as the session found them
#: (read when pytest imports this file, before any test module or fixture)
_SIGNALS = ("SIGINT", "SIGTERM")
_SESSION_HANDLERS = {name: signal.getsignal(getattr(signal, name)) for name in _SIGNALS}
if _SESSION_HANDLERS["SIGINT"] == signal.SIG_IGN:
    # started in the background by a shell without job control (`pytest &`, nohup): SIGINT is ignored from the
    # start and Python installs no KeyboardInterrupt handler, which the Ctrl-C tests (and the runs they start, which
    # inherit the ignored signal) depend on. The tests run as a terminal runs them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _SESSION_HANDLERS["SIGINT"] = signal.default_int_handler


def _restore_handlers(when: str) -> None:
    for name, handler in _SESSION_HANDLERS.items():
        now = signal.getsignal(getattr(signal, name))
        if handler is not None and now is not handler:
            signal.signal(getattr(signal, name), handler)
            warnings.warn(f"{name}'s handler was {now!r} {when}: restored", stacklevel=2)


@pytest.fixture(autouse=True)
def _signal_handlers_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts and ends with the process's SIGINT and SIGTERM handlers as the session found them, whatever
    order the tests run in: a test, a module fixture's teardown or a library it drives (Ray's shutdown) that leaves
    a handler installed would otherwise make a later test's Ctrl-C do nothing. A leak is restored and reported as a
    warning naming where it was found."""
    _restore_handlers(f"before {request.node.nodeid}")
    yield
    _restore_handlers(f"after {request.node.nodeid}")
