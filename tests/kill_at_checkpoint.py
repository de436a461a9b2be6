"""`python kill_at_checkpoint.py STEP ARGS...`: run `r1track ARGS...` and SIGKILL the process
right after it has written checkpoint STEP (a real kill, at a known point, for resume tests)."""

from __future__ import annotations

import os
import signal
import sys

import transformers

import r1track.training.vision as vision
from r1track.cli import main

STEP = int(sys.argv[1])
_trainer_save = transformers.Trainer._save_checkpoint
_vision_save = getattr(vision, "_save_state", None)


def _trainer_save_then_die(self, *args, **kwargs):
    _trainer_save(self, *args, **kwargs)
    if self.state.global_step == STEP:
        os.kill(os.getpid(), signal.SIGKILL)


def _vision_save_then_die(out, step, *args, **kwargs):
    _vision_save(out, step, *args, **kwargs)
    if step == STEP:
        os.kill(os.getpid(), signal.SIGKILL)


transformers.Trainer._save_checkpoint = _trainer_save_then_die
vision._save_state = _vision_save_then_die
sys.exit(main(sys.argv[2:]))
