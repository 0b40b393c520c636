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

from lightsr.degrade.generate import DegradeJob, run, temp_prefix
from lightsr.errors import ConfigError, JobError
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
    token = hashlib.sha256((tmp_path / "job.json").read_bytes()).hexdigest()[:12]
    (tmp_path / "hr" / f"{temp_prefix(token, (0, 1))}abc.png").write_bytes(b"partial")
    (tmp_path / "lr" / ".tmp-users-own.png").write_bytes(b"not ours")  # a temporary of someone else: kept
    os.unlink(tmp_path / "lr" / json.loads(lines[2])["name"])
    (tmp_path / "records.jsonl").unlink()
    summary = run(job(hr_dir, tmp_path))
    assert summary.already_done == 6 and summary.written == 6
    assert not list((tmp_path / "hr").glob(".tmp-*"))
    (tmp_path / "lr" / ".tmp-users-own.png").unlink()
    assert snapshot(tmp_path) == reference[1]


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


# ---------------------------------------------------------------- hostile conditions (issue #14)


def _children(pid):
    """Pids whose parent is ``pid`` (from /proc), with their command lines."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out[int(entry)] = cmd
    return out


def test_a_killed_worker_fails_the_job_promptly_and_a_rerun_finishes(hr_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lightsr", "degrade", "--preset", "realesrgan", "--input", str(hr_dir), "--output",
           str(out), "--patch", "64", "--per-image", "40", "--seed", "2", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = out / ".journal" / "shard-0-of-1.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not (journal.exists() and journal.read_text()):
        time.sleep(0.01)
    workers = [pid for pid, c in _children(proc.pid).items() if "spawn_main" in c]
    assert workers and proc.poll() is None, "the kill should land mid-job"
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    killed_at = time.time()
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # hung (as multiprocessing.Pool did): leave no process behind
            for pid in [*_children(proc.pid), proc.pid]:
                os.kill(pid, signal.SIGKILL)
            proc.wait()
    assert time.time() - killed_at < 30  # promptly: multiprocessing.Pool waited forever here
    assert proc.returncode == 2
    assert "worker process died" in err and "not done" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    done = journal.read_text().count("\n")
    assert 0 < done < 160
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    run(job(hr_dir, tmp_path / "clean", seed=2, per_image=40))
    assert snapshot(out) == snapshot(tmp_path / "clean")


def test_a_folder_of_other_files_is_refused_unless_forced(hr_dir, tmp_path):
    out = tmp_path / "mine"
    (out / "hr").mkdir(parents=True)
    (out / "hr" / "im0.png").write_bytes(b"the user's own picture")
    (out / "records.jsonl").write_text("the user's notes\n")
    (out / "hr" / ".tmp-draft.png").write_bytes(b"the user's temporary")
    before = {p: p.read_bytes() for p in out.rglob("*")  if p.is_file()}
    with pytest.raises(JobError, match=r"not empty .* not a lightsr degrade job \(no job.json\).*--force"):
        run(job(hr_dir, out, pipeline="bicubic", patch=None, per_image=1))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing touched
    assert run(job(hr_dir, out, pipeline="bicubic", patch=None, per_image=2, force=True)).written == 8
    assert (out / "hr" / ".tmp-draft.png").read_bytes() == b"the user's temporary"  # not ours: kept
    assert (out / "hr" / "im0.png").read_bytes() == b"the user's own picture"  # im0_000.png, im0_001.png written
    from lightsr.cli import build_parser

    assert build_parser().parse_args(["degrade", "--preset", "bicubic", "--input", "a", "--output", "b", "--force"]).force


def test_one_process_per_shard(hr_dir, tmp_path):
    import fcntl

    out = tmp_path / "out"
    first = run(job(hr_dir, out, shard=(0, 2)))
    assert first.written == 6
    token = hashlib.sha256((out / "job.json").read_bytes()).hexdigest()[:12]
    other = out / "hr" / f"{temp_prefix(token, (1, 2))}in-flight.png"
    with open(out / ".journal" / "shard-0-of-2.lock", "a") as held:  # shard 0 is running elsewhere
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(JobError, match=f"^another lightsr degrade is writing {out} \\(shard 0/2\\)"):
            run(job(hr_dir, out, shard=(0, 2)))
        other.write_bytes(b"shard 1's write in progress")
        ours = out / "hr" / f"{temp_prefix(token, (0, 2))}left-by-a-kill.png"
        ours.write_bytes(b"partial")
        fcntl.flock(held, fcntl.LOCK_UN)
    # shard 0 again: removes its own leftover, never shard 1's temporaries
    assert run(job(hr_dir, out, shard=(0, 2))).already_done == 6
    assert not ours.exists() and other.exists()
    with open(out / ".journal" / "shard-1-of-2.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(JobError, match="another lightsr degrade is writing"):
            run(job(hr_dir, out, shard=(1, 2)))


def test_a_changed_input_is_refused_by_name(hr_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("im0.png", "im1.png"):
        (src / name).write_bytes((hr_dir / name).read_bytes())
    out = tmp_path / "out"
    run(job(src, out, pipeline="bicubic", patch=None, per_image=1))
    manifest = json.loads((out / "job.json").read_text())
    assert manifest["version"] == 2 and [p["name"] for p in manifest["inputs"]] == ["im0.png", "im1.png"]
    assert all(p["size"] > 0 and p["mtime_ns"] > 0 for p in manifest["inputs"])
    write_image(str(src / "im1.png"), np.zeros((64, 64, 3), np.float32))  # same name, other picture
    with pytest.raises(JobError, match="input im1.png changed since the job started"):
        run(job(src, out, pipeline="bicubic", patch=None, per_image=1))
    (src / "im1.png").unlink()
    with pytest.raises(JobError, match="input im1.png is gone"):
        run(job(src, out, pipeline="bicubic", patch=None, per_image=1))
    # a job.json of version 1 (names only) is still resumed
    manifest.update(version=1, inputs=["im0.png"])
    (out / "job.json").write_text(json.dumps(manifest))
    assert run(job(src, out, pipeline="bicubic", patch=None, per_image=1)).already_done == 1


def test_disk_full_stops_the_job_with_one_line_and_a_rerun_finishes(reference, hr_dir, tmp_path, monkeypatch, capsys):
    import errno

    from lightsr import cli
    from lightsr.degrade import generate

    real, calls = generate._write_output, []

    def full_disk(path, data, prefix):
        calls.append(path)
        if len(calls) > 9:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, prefix)

    monkeypatch.setattr(generate, "_write_output", full_disk)
    args = ["degrade", "--preset", "realesrgan", "--input", str(hr_dir), "--output", str(tmp_path), "--patch", "64",
            "--per-image", "3", "--seed", "5", "--workers", "0", "--quiet"]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "rerun the same command" in err
    assert "hr/" in err or "lr/" in err  # names the file
    # the journal on a full disk: the error is one line too
    monkeypatch.setattr(generate, "_write_output", real)
    monkeypatch.setattr(generate.os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    assert cli.main(args) == 2
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    assert cli.main(args) == 0
    assert snapshot(tmp_path) == reference[1]


def test_pipeline_errors_name_the_file_and_sizes_are_bounded(hr_dir, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("lq:\n  - {op: blur, size: {odd: [7, 2100001]}, kernels: {iso: {sigma: 1}}}\n")
    with pytest.raises(ConfigError, match=rf"^{bad}: lq\[0\]\.size: values must be <= 101"):
        run(job(hr_dir, tmp_path / "out", pipeline=str(bad)))
    for text, key in (("lq: [{op: resize, scale: 100}]", r"lq\[0\]\.scale: values must be <= 4"),
                      ("lq: [{op: resize, updown: {p: [1, 0, 0], up: [1, 50]}}]", r"lq\[0\]\.updown\.up: values must be <= 4"),
                      ("gt: [{op: usm, radius: 5000}]\nlq: []", r"gt\[0\]\.radius: must be in \[1, 101\]"),
                      ("scale: 100000\nlq: []", r"scale: expected an integer in \[1, 16\]")):
        bad.write_text(text + "\n")
        with pytest.raises(ConfigError, match=rf"^{bad}: {key}"):
            run(job(hr_dir, tmp_path / "out", pipeline=str(bad)))
    assert not (tmp_path / "out").exists()
    from lightsr.degrade.kernels import gaussian

    with pytest.raises(ValueError, match="odd integer in"):  # a replayed record is bounded too
        gaussian(2100001, 1.0)
