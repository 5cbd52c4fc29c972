"""losses.f32 and the device-side buffer of pending step losses (steplosses.PendingLosses)."""

import numpy as np
import torch

from digitlab.steplosses import PendingLosses, append_step_losses, read_step_losses, truncate_step_losses


def test_pending_losses_keep_every_value_across_chunks(monkeypatch):
    monkeypatch.setattr(PendingLosses, "CHUNK", 4)  # small chunks: the boundaries are what is tested
    pending = PendingLosses()
    assert len(pending) == 0 and pending.values().numel() == 0
    values = [0.5, 1.25, float("nan"), 3.0, 4.0, float("inf"), 6.0, 7.0, 8.0]  # crosses two chunk boundaries
    for v in values:
        pending.append(torch.tensor(v))
    assert len(pending) == 9
    np.testing.assert_array_equal(pending.values().numpy(), np.array(values, dtype=np.float32))
    np.testing.assert_array_equal(pending.values(5).numpy(), np.array(values[5:], dtype=np.float32))
    assert pending.values().dtype == torch.float32


def test_every_length_and_start_across_chunks(monkeypatch):
    monkeypatch.setattr(PendingLosses, "CHUNK", 4)
    for n in range(13):
        pending = PendingLosses()
        for v in range(n):
            pending.append(torch.tensor(float(v)))
        for start in range(n + 1):
            assert pending.values(start).tolist() == [float(v) for v in range(start, n)], (n, start)


def test_a_loss_that_requires_grad_is_kept_as_a_value():
    pending = PendingLosses()
    w = torch.tensor(1.0, requires_grad=True)
    pending.append(w * 3)
    assert not pending.values().requires_grad and pending.values().tolist() == [3.0]


def test_a_value_is_copied_so_the_step_tensor_can_die(monkeypatch):
    pending = PendingLosses()
    loss = torch.tensor(2.0)
    pending.append(loss)
    loss.fill_(99.0)  # the slot holds the value at append time, not a reference to the step's tensor
    assert pending.values().tolist() == [2.0]


def test_clear_forgets_and_reuses(monkeypatch):
    monkeypatch.setattr(PendingLosses, "CHUNK", 3)
    pending = PendingLosses()
    for v in range(7):
        pending.append(torch.tensor(float(v)))
    snapshot = pending.values().clone()
    pending.clear()
    assert len(pending) == 0 and pending.values().numel() == 0
    pending.append(torch.tensor(10.0))
    assert pending.values().tolist() == [10.0] and snapshot.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_losses_file_round_trip_and_truncate(tmp_path):
    append_step_losses(tmp_path, np.array([1.0, 2.0], dtype=np.float32))
    append_step_losses(tmp_path, np.array([3.0], dtype=np.float32))
    np.testing.assert_array_equal(read_step_losses(tmp_path), [1.0, 2.0, 3.0])
    truncate_step_losses(tmp_path, 2)
    np.testing.assert_array_equal(read_step_losses(tmp_path), [1.0, 2.0])
    truncate_step_losses(tmp_path, 4)  # steps never recorded are NaN
    got = read_step_losses(tmp_path)
    assert got.shape == (4,) and np.isnan(got[2:]).all()
