"""TensorBoard event files, both ways, with the real `tensorboard` package (any recent version;
2.21 made the committed fixture). Never needed by CI or the tests.

  python scripts/reference/gen_tensorboard.py write OUT.json
      writes an event file with TensorBoard's own EventFileWriter and stores its bytes (hex) and
      the scalars in it as tests/fixtures/tensorboard_events.json: the Rust reader must read them.
  python scripts/reference/gen_tensorboard.py read RUN_DIR
      reads the event file(s) a run wrote with TensorBoard's EventAccumulator (what
      `tensorboard --logdir` uses) and prints every scalar as JSON lines {tag, step, value}.

Set up with: python -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard
"""
import glob
import json
import os
import sys
import tempfile


def write(out):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    scalars = [
        (1, "train/total", 1.25),
        (1, "train/lr", 1e-4),
        (2, "train/total", 0.875),
        (7, "val/dice/liver", 0.6015625),
        (300, "epoch/recon", -3.5),
    ]
    with tempfile.TemporaryDirectory() as d:
        w = EventFileWriter(d)
        for step, tag, value in scalars:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
            w.add_event(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary))
        w.close()
        (path,) = glob.glob(os.path.join(d, "*tfevents*"))
        data = open(path, "rb").read()
    import tensorboard

    json.dump(
        {
            "generator": f"scripts/reference/gen_tensorboard.py with tensorboard {tensorboard.__version__}",
            "events_hex": data.hex(),
            "scalars": [{"step": s, "tag": t, "value": v} for s, t, v in scalars],
        },
        open(out, "w"),
        indent=1,
    )


def read(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    for tag in sorted(acc.Tags()["scalars"]):
        for e in acc.Scalars(tag):
            print(json.dumps({"tag": tag, "step": e.step, "value": e.value}))


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
