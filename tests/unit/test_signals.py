"""Ctrl-C and SIGTERM: held during a block and delivered after, turned into KeyboardInterrupt, kept across a
library that installs its own handlers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from harness.signals import deferred, handlers_kept, sigterm_as_interrupt


def test_a_signal_during_a_deferred_block_arrives_after_it():
    finished = False
    with pytest.raises(KeyboardInterrupt):
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished = True  # the block runs to its end first
    assert finished and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_deferred_default_action_is_the_signal_that_arrived():
    """With SIG_DFL, the held signal is re-raised as itself: Ctrl-C ends the process as SIGINT, not SIGTERM."""
    code = textwrap.dedent("""
        import os, signal
        from harness.signals import deferred
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        with deferred():
            os.kill(os.getpid(), signal.SIGINT)
            print("block finished", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout == "block finished\n" and done.returncode == -signal.SIGINT


def test_sigterm_stops_like_ctrl_c_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pthread_kill(signal.pthread_self(), 0)  # let the handler run before the block ends
    assert signal.getsignal(signal.SIGTERM) == before


def test_handlers_installed_by_a_library_are_undone():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with handlers_kept():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert {s: signal.getsignal(s) for s in before} == before
