"""What every command shares: one-line exit-2 errors that write nothing, the flags of the
tracker settings, negative numbers after a flag, a config error named by its flag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import OPENAI_NO_SERVER, SETTING_SAMPLES, run_main
from r1track.cli import build_parser, main
from r1track.tracking.settings import SETTINGS, SETTINGS_KEYS


@pytest.fixture(scope="module")
def bad_input_env(tmp_path_factory, synth_video, tiny_model):
    """Paths the bad commands below refer to: a video, a model and a copy of it with its
    weights cut in half, a plain file, an empty folder, two val runs (without their report.json)
    and a test run of no-motion on a small GOT-10k."""
    import shutil

    from helpers import write_got10k

    tmp = tmp_path_factory.mktemp("bad")
    truncated = tmp / "truncated"
    shutil.copytree(tiny_model, truncated)
    weights = truncated / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    (tmp / "file.txt").write_text("a file, not a folder\n")
    (tmp / "existing").mkdir()
    for split in ("val", "test"):
        write_got10k(tmp / "got10k", split, num_seqs=1, length=3)
    for run, split in (("run_a", "val"), ("run_b", "val"), ("run_t", "test")):
        eval_args = ["--dataset", "got10k", "--root", str(tmp / "got10k"), "--split", split]
        assert main(["eval", *eval_args, "--baseline", "no-motion", "--out", str(tmp / run)]) < 2
        (tmp / run / "report.json").unlink(missing_ok=True)
    return {
        "tmp": tmp,
        "video": synth_video[0],
        "model": tiny_model,
        "truncated": truncated,
        "file": tmp / "file.txt",
        "cfg": Path(__file__).parents[2] / "configs" / "tiny-cpu-sft.yaml",
        "grpo": Path(__file__).parents[2] / "configs" / "tiny-cpu-grpo.yaml",
    }


_TRACK = ["track", "{video}", "--bbox", "100,50,40,30", "--model", "{model}", "--crop-size", "112"]


def _track_box(bbox: str, model: str = "{model}") -> list[str]:
    """`track` of the test video from `bbox` with `model`, into {out}."""
    return ["track", "{video}", "--bbox", bbox, "--model", model, "--out", "{out}"]


_EVAL = ["eval", "--dataset", "got10k", "--root", "{tmp}/got10k", "--model", "{model}"]
_BUILD = ["data", "build", "--dataset", "got10k", "--root", "{tmp}/got10k", "--split", "val"]
_SFT = ["train", "sft", "--config", "{cfg}", "output_dir={out}"]
_GRPO = ["train", "grpo", "--config", "{grpo}", "output_dir={out}"]
_UNDER_FILE = "{file}/sub"  # an output below a plain file: fails for root too (chmod would not)

# name: (command, the phrase its one line must hold, the output it must not create)
BAD_COMMANDS = {
    "track out below a file": ([*_TRACK, "--out", _UNDER_FILE], "is a file, not a directory"),
    "track out read-only": ([*_TRACK, "--out", "/proc/sys/r1track"], "cannot write in /proc/sys"),
    "eval out below a file": ([*_EVAL, "--out", _UNDER_FILE], "is a file, not a directory"),
    "pack out a directory": (["pack", "{tmp}/run_t", "--out", "{tmp}/existing"], "is a directory"),
    "pack out below a file": (["pack", "{tmp}/run_t", "--out", "{file}/x.zip"], "is a file, not"),
    "pack out not a zip": (["pack", "{tmp}/run_t", "--out", "{out}.txt"], "ending in .zip"),
    "build out a file": ([*_BUILD, "--num-samples", "2", "--out", "{file}"], "not a directory"),
    "build out a .txt": ([*_BUILD, "--num-samples", "2", "--out", "{out}.txt"], "names a file"),
    "synth out below a file": (
        ["data", "synth", "--num-seqs", "1", "--out", _UNDER_FILE],
        "is a file, not a directory",
    ),
    "tiny-model below a file": (["dev", "tiny-model", _UNDER_FILE], "is a file, not a directory"),
    "bundle below a file": (
        ["dev", "bundle", "{model}", _UNDER_FILE, "--crop-size", "112", "--context", "4"],
        "is a file, not a directory",
    ),
    "synth-video below a file": (["dev", "synth-video", "{file}/v.mp4"], "is a file, not a"),
    "synth-video not a video": (["dev", "synth-video", "{out}.foo"], "ending in .avi"),
    "train output_dir below a file": (
        ["train", "sft", "--config", "{cfg}", "output_dir={file}/sub"],
        "output_dir {file}/sub: {file} is a file",
    ),
    "plot into a missing folder": (
        ["report", "{tmp}/run_a", "{tmp}/run_b", "--plot", "{out}/plot.png"],
        "--plot {out}/plot.png: no such folder",
    ),
    "plot not an image": (
        ["report", "{tmp}/run_a", "{tmp}/run_b", "--plot", "{out}.txt"],
        "expected a file name ending in",
    ),
    "device cuda": ([*_TRACK, "--device", "cuda", "--out", "{out}"], "CUDA is not available"),
    "device mps": ([*_TRACK, "--device", "mps", "--out", "{out}"], "MPS (Apple GPU) is not"),
    "device foo": ([*_TRACK, "--device", "foo", "--out", "{out}"], "not a valid device"),
    "truncated weights": (
        _track_box("100,50,40,30", "{truncated}"),
        "truncated/model.safetensors: truncated",
    ),
    "bbox 1e308": (
        _track_box("10,10,1e308,1e308"),
        "lies mostly outside the 320x192 frame",
    ),
    "bbox 1e9": (
        _track_box("10,10,1e9,1e9"),
        "lies mostly outside the 320x192 frame",
    ),
    "bbox inf": (
        _track_box("10,10,inf,5"),
        "expected four finite numbers",
    ),
    "bbox empty field": (
        _track_box("10,,10,40,40"),
        "an empty field",
    ),
    "train flag it does not take": (  # the overrides after it are not listed as unrecognized
        [*_SFT[:4], "--device", "cuda", "output_dir={out}"],
        "unrecognized arguments: --device cuda (see",
    ),
    "plot of one run into a missing folder": (
        ["report", "{tmp}/run_a", "--plot", "{out}/plot.png"],
        "--plot {out}/plot.png: no such folder",
    ),
    "grpo groups": (
        [*_GRPO, "grpo.num_generations=3"],
        "grpo.num_generations=3 must divide the generation batch 4",
    ),
    "grpo group of 1": (
        [*_GRPO, "grpo.num_generations=1", "optim.per_device_train_batch_size=1"],
        "grpo.num_generations=1 must be at least 2",
    ),
    "batch 0": ([*_SFT, "optim.per_device_train_batch_size=0"], "batch_size=0 must be at least 1"),
    "lr -1": ([*_SFT, "optim.learning_rate=-1"], "optim.learning_rate=-1.0 must be a positive"),
    "max_steps -5": ([*_SFT, "optim.max_steps=-5"], "optim.max_steps=-5 must be at least 1, or -1"),
    "no train rows": ([*_SFT, "data.max_train_samples=0"], "data.max_train_samples=0 must be"),
    "dtype": ([*_SFT, "model.dtype=fp8"], "model.dtype=fp8 is not one of"),
    "scheduler": ([*_SFT, "optim.lr_scheduler_type=cosin"], "optim.lr_scheduler_type=cosin is not"),
    "override without =": ([*_SFT, "optim.max_steps", "4"], "override 'optim.max_steps': expected"),
    "timeout -1": ([*_TRACK, "--timeout", "-1", "--out", "{out}"], "--timeout must be a positive"),
    "timeout 0": (
        [*_TRACK, *OPENAI_NO_SERVER, "--timeout", "0", "--out", "{out}"],
        "--timeout must be",
    ),
    "max-pixels 0": (
        [*_TRACK, *OPENAI_NO_SERVER, "--max-pixels", "0", "--out", "{out}"],
        "--max-pixels must be at least 784",
    ),
    "context 0": ([*_TRACK, "--context", "0", "--out", "{out}"], "--context must be positive"),
    "scale-lr 2": ([*_TRACK, "--scale-lr", "2", "--out", "{out}"], "--scale-lr must be in [0, 1]"),
    "views 9": ([*_EVAL, "--views", "9", "--out", "{out}"], "--views must be 1 to 4, got 9"),
    "bundle context 0": (
        ["dev", "bundle", "{model}", "{out}", "--crop-size", "112", "--context", "0"],
        "--context must be positive",
    ),
}


@pytest.mark.parametrize("name", BAD_COMMANDS)
def test_bad_command_is_one_line_exit_2_and_writes_nothing(name, bad_input_env, capsys):
    import torch

    if name == "device cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if name == "device mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if name == "track out read-only" and os.access("/proc/sys", os.W_OK):
        pytest.skip("/proc/sys is writable here")
    command, phrase = BAD_COMMANDS[name]
    env = bad_input_env
    out = env["tmp"] / f"out_{name.replace(' ', '_')}"
    fill = {**env, "out": out}
    before = sorted(p.relative_to(env["tmp"]) for p in env["tmp"].rglob("*"))
    code, err = run_main([arg.format(**fill) for arg in command], capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("r1track: error: "), err
    assert phrase.format(**fill) in lines[0]
    assert "Traceback" not in err
    # nothing written: no output, no report.json in the runs, no stray .tmp, nothing below
    assert sorted(p.relative_to(env["tmp"]) for p in env["tmp"].rglob("*")) == before
    assert not any(Path(str(out) + suffix).exists() for suffix in ("", ".txt", ".foo"))


def test_negative_box_values_reach_their_flag():
    from r1track.cli import _join_negative_values

    argv = ["track", "v.mp4", "--bbox", "-10,-5,40,30", "--timeout", "-1", "--out", "o"]
    assert _join_negative_values(argv) == [
        "track", "v.mp4", "--bbox=-10,-5,40,30", "--timeout", "-1", "--out", "o"
    ]  # fmt: skip


def test_a_config_error_names_the_commands_flag(tmp_path, capsys):
    """A config's `ConfigError` names its field; the command line prints the flag that set it:
    the field's name as a flag, else the command's own name for it (`dev synth-video` sets a
    SynthConfig's lengths with --frames)."""
    for args, line in (
        (["data", "synth", "--num-seqs", "1", "--min-length", "1"], "--min-length must be"),
        (["data", "synth", "--num-seqs", "1", "--height", "32"], "--height must be at least 64"),
        (["dev", "synth-video", "{out}/v.mp4", "--kind", "dataset", "--frames", "1"], "--frames"),
    ):
        args = [a.replace("{out}", str(tmp_path)) for a in args]
        out = [] if args[0] == "dev" else ["--out", str(tmp_path / "d")]
        assert main([*args, *out]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"r1track: error: {line}"), err
    assert err == ["r1track: error: --frames must be at least 2, got 1"]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "command",
    [
        ["track", "v.mp4", "--bbox", "1,1,2,2", "--out", "o"],
        ["eval", "--dataset", "got10k", "--root", "r", "--out", "o"],
        ["dev", "bundle", "ckpt", "out"],
    ],
)
def test_each_command_takes_every_setting_as_a_flag_not_given_by_default(command):
    parser = build_parser()
    model = ["--model", "m"] if command[0] != "dev" else []
    args = parser.parse_args([*command, *model])
    assert all(getattr(args, key) is None for key in SETTINGS_KEYS)  # None: not given
    for key, (flag_value, _, _) in SETTING_SAMPLES.items():
        setting = next(s for s in SETTINGS if s.key == key)
        if setting.type is bool:
            given = [setting.flag] if flag_value else ["--no-" + setting.flag[2:]]
        else:
            given = [setting.flag, str(flag_value)]
        assert getattr(parser.parse_args([*command, *model, *given]), key) == flag_value
