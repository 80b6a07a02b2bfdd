"""Keeping third-party chatter off the console: what TensorFlow, its converter and LiteRT print from C++.

Importing this module starts TensorFlow with its start-up lines silenced: the
commands and `api` import it first, so whichever runs starts TensorFlow here, once.

TF_CPP_MIN_LOG_LEVEL no longer silences TensorFlow 2.21's start-up lines ("oneDNN
custom operations are on", "Could not find cuda drivers"), nor the converter's
("fully_quantize: 0, inference_type: 6, ...") or LiteRT's ("INFO: Created TensorFlow
Lite XNNPACK delegate for CPU."): they are written to file descriptor 2 by C++, so
while they would be, it points at /dev/null. Python's own errors still raise.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # what the C++ logging still honours


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Keeps what TensorFlow's converter and LiteRT print from C++ ("fully_quantize: 0, inference_type: 6, ...",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") off the console: file descriptor 2 goes to
    /dev/null meanwhile. Failures still raise, with their messages."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with quiet_native_output():  # "oneDNN custom operations are on", "Could not find cuda drivers", ...
    import tensorflow  # pylint: disable=unused-import,wrong-import-position
