"""`python tests/stall_after_saves.py N FILE ARGS...` is `adaptlab ARGS...` whose results store saves N runs and then,
at the next save, creates FILE and waits there, storing nothing more, until a signal ends the process.

A test that signals the process once FILE exists knows what is stored: exactly N runs, whichever executor ran them
(the driver is the store's only writer) and however fast the machine is.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any


def stall_after(saves: int, signal_file: Path) -> None:
    from adaptlab.store import Store

    save = Store.save
    done = [0]

    def stalling_save(self: Any, result: Any) -> None:
        if done[0] == saves:
            signal_file.touch()
            while True:  # a signal's handler runs between two sleeps (SIGINT: KeyboardInterrupt)
                time.sleep(0.1)
        save(self, result)
        done[0] += 1

    Store.save = stalling_save  # type: ignore[method-assign]


if __name__ == "__main__":  # not in the processes executor's workers, which import this file as their main module
    stall_after(int(sys.argv[1]), Path(sys.argv[2]))
    from adaptlab.cli import main

    sys.argv = ["adaptlab", *sys.argv[3:]]
    main()
