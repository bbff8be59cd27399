"""gunicorn settings for loadgen's debug-off Amundsen (gunicorn -c).

Each worker asks the kernel for SIGKILL when the master dies, so a killed
loadgen (whose death kills the master through Pdeathsig) leaves no worker.
"""

import ctypes
import os
import signal


def post_fork(server, worker):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
        raise OSError(ctypes.get_errno(), 'prctl')
    if os.getppid() != server.pid:  # the master died before prctl
        os._exit(1)
