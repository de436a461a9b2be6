"""`python kill_at_checkpoint.py STEP ARGS...`: run `r1track ARGS...` and SIGKILL the process
right after it has written checkpoint STEP (a real kill, at a known point, for resume tests)."""

from __future__ import annotations

import os
import signal
import sys


def die_after(save, step_of, step: int):
    """`save`, then SIGKILL this process when the checkpoint just written is `step`."""

    def wrapped(*args, **kwargs):
        save(*args, **kwargs)
        if step_of(*args) == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return wrapped


if __name__ == "__main__":
    import transformers

    import r1track.training.vision as vision
    from r1track.cli import main

    step = int(sys.argv[1])
    trainer = transformers.Trainer
    trainer._save_checkpoint = die_after(
        trainer._save_checkpoint, lambda self, *_: self.state.global_step, step
    )
    vision._save_state = die_after(vision._save_state, lambda out, at, *_: at, step)
    sys.exit(main(sys.argv[2:]))
