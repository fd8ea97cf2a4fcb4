"""The benchmark command line refuses a device torch cannot use, before loading anything."""
import pytest
import torch

from bench.__main__ import main


def test_an_unavailable_device_is_refused_with_a_message(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as stop:
        main(["attacks", "--device", "cuda"])
    assert stop.value.code == 2
    assert "--device cuda: this machine has no such device" in capsys.readouterr().err
