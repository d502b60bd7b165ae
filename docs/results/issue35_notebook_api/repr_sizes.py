"""The reprs a notebook shows for a dataset, a split and a training result, and the export's class names."""

import pathlib
import tempfile

import radgen

out = pathlib.Path(tempfile.mkdtemp())
ds = radgen.load_dataset("pneumoniamnist", val_from_train=0.1, progress=False)
overrides = ["train.epochs=1", "train.limit_train_batches=4", "train.sample_every=0"]
run = radgen.train("tiny", overrides=overrides, output_dir=out, progress=False)
print(repr(ds))
print(repr(ds["train"]))
print(repr(run))
print("chars: DataSplits", len(repr(ds)), "ImageSet", len(repr(ds["train"])), "RunResult", len(repr(run)))
print("class_names", radgen.load(run.run_dir).class_names)
