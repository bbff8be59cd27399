"""gunicorn settings for metadata_app (pass with -c; everything else is on
the command line).

post_fork asks the kernel to SIGKILL each worker when the gunicorn master
dies. The Go side starts the master with Pdeathsig, so a test binary that is
killed takes the master down; without this hook a sync worker only notices
its parent is gone on its next loop (up to timeout/2 seconds later).
"""

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def post_fork(server, worker):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), 'prctl(PR_SET_PDEATHSIG)')
    # The master may have died between fork and prctl.
    if os.getppid() != server.pid:
        os._exit(1)
