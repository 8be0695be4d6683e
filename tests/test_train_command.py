"""`python -m tune_clothes.train`: one configuration on one fold, one line per epoch, checkpoints kept."""
from __future__ import annotations

import yaml
from conftest import tiny_space

from tune_clothes.train import main


def test_train_prints_an_epoch_line_and_keeps_checkpoints(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(tiny_space(tmp_path, "try")))
    out_dir = tmp_path / "run"
    assert main(["--config", str(space), "--fold", "1", "--set", "train.epochs=2", "--out", str(out_dir),
                 "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["epoch", "1"], ["epoch", "2"]]
    assert "val loss" in lines[0] and lines[-1].startswith("done: val/acc")
    assert (out_dir / "checkpoints" / "last.pt").is_file() and (out_dir / "checkpoints" / "best.pt").is_file()
    assert any((out_dir / "tensorboard").iterdir())
    assert main(["--config", str(space), "--fold", "1", "--set", "train.epochs=3", "--out", str(out_dir),
                 "--device", "cpu", "--resume"]) == 0
    resumed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in resumed[:1]] == [["epoch", "3"]]  # continued after epoch 2
