"""cloudchat_local._gc: the local stack's processes freeze what survives startup and collect
the young generation less often (run in a child process: it changes the interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_settle_freezes_survivors_and_keeps_collecting_garbage() -> None:
    code = textwrap.dedent(
        """
        import gc, weakref
        from cloudchat_local._gc import YOUNG_THRESHOLD, freeze_survivors, settle

        class Node:
            pass

        settle(freeze_every=None)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
        a, b = Node(), Node()
        a.other, b.other = b, a  # a garbage cycle once dropped: collected, never frozen
        ref = weakref.ref(a)
        del a, b
        kept = [Node() for _ in range(100)]
        before = gc.get_freeze_count()
        freeze_survivors()
        assert ref() is None
        assert gc.get_freeze_count() >= before + 100
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
