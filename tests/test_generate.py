"""Offline generation: outputs, resume after kills, sharding, bad inputs, CLI exit codes."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lightsr.degrade.generate import DegradeJob, run
from lightsr.errors import JobError
from lightsr.images import read_image, write_image


@pytest.fixture(scope="module")
def hr_dir(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("src")
    for i, (y, x) in enumerate([(0, 0), (160, 200), (300, 40), (250, 300)]):
        write_image(str(d / f"im{i}.png"), astronaut[y:y + 150 + 3 * i, x:x + 170 + i])
    return d


def snapshot(out):
    """Every output file's bytes (hr/, lr/, records.jsonl), to compare whole runs."""
    files = {}
    for sub in ("hr", "lr"):
        for name in sorted(os.listdir(out / sub)):
            files[f"{sub}/{name}"] = hashlib.sha256((out / sub / name).read_bytes()).hexdigest()
    files["records.jsonl"] = (out / "records.jsonl").read_text()
    return files


def job(src, out, **kw):
    args = dict(input_dir=str(src), output_dir=str(out), pipeline="realesrgan", seed=5, patch=64, per_image=3)
    args.update(kw)
    return DegradeJob(**args)


@pytest.fixture(scope="module")
def reference(hr_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    summary = run(job(hr_dir, out))
    assert summary.written == 12 and not summary.failed and summary.records_complete
    return out, snapshot(out)


def test_outputs_and_records(reference, hr_dir):
    out, _ = reference
    lines = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(12))
    first = lines[0]
    assert first["name"] == "im0_000.png" and first["source"] == "im0.png" and first["crop"][2:] == [64, 64]
    lr, _ = read_image(out / first["lr"])
    hr, _ = read_image(out / first["hr"])
    assert lr.shape == (16, 16, 3) and hr.shape == (64, 64, 3)
    # the record replays: crop the source, run the record, get the written LR (8-bit file)
    from lightsr.degrade.pipeline import Pipeline

    src, _ = read_image(hr_dir / "im0.png")
    top, left, h, w = first["crop"]
    replayed = Pipeline.replay(src[top:top + h, left:left + w], first["record"])
    assert np.abs(replayed - lr).max() < 1e-6


def test_workers_do_not_change_the_output(reference, hr_dir, tmp_path):
    run(job(hr_dir, tmp_path, workers=2))
    assert snapshot(tmp_path) == reference[1]


def test_shards_together_equal_the_unsharded_run(reference, hr_dir, tmp_path):
    for i in (2, 0, 1):
        summary = run(job(hr_dir, tmp_path, shard=(i, 3)))
        assert summary.total == 4
    assert summary.records_complete
    assert snapshot(tmp_path) == reference[1]


def test_resume_after_simulated_kill_states(reference, hr_dir, tmp_path):
    run(job(hr_dir, tmp_path))
    journal = tmp_path / ".journal" / "shard-0-of-1.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    # a kill mid-append: the last line is cut; a kill mid-write: a temp file is left; a pair lost its LR
    journal.write_text("".join(lines[:7]) + lines[7][:40])
    (tmp_path / "hr" / ".tmp-abc.png").write_bytes(b"partial")
    os.unlink(tmp_path / "lr" / json.loads(lines[2])["name"])
    (tmp_path / "records.jsonl").unlink()
    summary = run(job(hr_dir, tmp_path))
    assert summary.already_done == 6 and summary.written == 6
    assert snapshot(tmp_path) == reference[1]
    assert not list((tmp_path / "hr").glob(".tmp-*"))


def test_resume_after_a_real_kill(hr_dir, tmp_path):
    cmd = [sys.executable, "-m", "lightsr", "degrade", "--preset", "realesrgan", "--input", str(hr_dir), "--output",
           str(tmp_path / "out"), "--patch", "64", "--per-image", "60", "--seed", "1", "--workers", "0", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = tmp_path / "out" / ".journal" / "shard-0-of-1.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_text().count("\n") >= 20:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = journal.read_text().count("\n")
    assert 0 < done_at_kill < 240, "the kill should land mid-job"
    assert subprocess.run(cmd).returncode == 0
    resumed = snapshot(tmp_path / "out")
    clean = subprocess.run(cmd[:9] + [str(tmp_path / "clean")] + cmd[10:])
    assert clean.returncode == 0
    assert resumed == snapshot(tmp_path / "clean")
    assert len(resumed) == 2 * 240 + 1


def test_a_different_job_in_the_same_folder_is_refused(reference, hr_dir):
    with pytest.raises(JobError, match="seed differs"):
        run(job(hr_dir, reference[0], seed=6))


def test_bad_inputs_are_reported_and_the_rest_is_written(hr_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("im0.png", "im1.png"):
        (src / name).write_bytes((hr_dir / name).read_bytes())
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (src / "tiny.png").write_bytes((hr_dir / "im0.png").read_bytes())
    write_image(str(src / "tiny.png"), np.zeros((20, 20, 3), np.float32))
    cmd = [sys.executable, "-m", "lightsr", "degrade", "--preset", "bicubic", "--input", str(src), "--output",
           str(tmp_path / "out"), "--patch", "64", "--workers", "0", "--quiet"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 1
    assert "broken.jpg" in res.stderr and "tiny.png" in res.stderr and "smaller than --patch 64" in res.stderr
    assert "2 pairs written" in res.stdout and "2 input(s) failed" in res.stdout
    assert sorted(os.listdir(tmp_path / "out" / "lr")) == ["im0.png", "im1.png"]


def test_bicubic_dataset_is_matlab_bicubic(basicsr, hr_dir, tmp_path):
    from basicsr.utils.matlab_functions import imresize

    run(job(hr_dir, tmp_path, pipeline="bicubic", patch=None, per_image=1))
    for i in range(4):
        hr, _ = read_image(tmp_path / "hr" / f"im{i}.png")
        lr, _ = read_image(tmp_path / "lr" / f"im{i}.png")
        src, _ = read_image(hr_dir / f"im{i}.png")
        assert hr.shape[0] % 4 == 0 and hr.shape[1] % 4 == 0 and np.array_equal(hr, src[:hr.shape[0], :hr.shape[1]])
        ref = np.clip(np.round(imresize(hr, 0.25) * 255), 0, 255) / 255
        assert np.abs(lr - ref).max() <= 1 / 255 + 1e-6


def test_duplicate_output_names_are_refused(tmp_path, photo):
    write_image(str(tmp_path / "a.png"), photo)
    write_image(str(tmp_path / "a.jpg"), photo)
    with pytest.raises(JobError, match="both be written as a.png"):
        run(job(tmp_path, tmp_path / "out"))
