"""Offline dataset generation: HR folder -> OUT/hr, OUT/lr, OUT/records.jsonl.

Resumable and shardable:
- every image is written atomically (temporary file + rename);
- a pair counts as done once its record line is in a shard's journal
  (OUT/.journal/shard-I-of-N.jsonl, appended after both images exist); a killed run leaves
  at most a partial last line, which the next run drops before appending;
- OUT/job.json pins the job (pipeline config, scale, seed, crops, inputs): a rerun with
  different options is refused instead of mixing two datasets;
- OUT/records.jsonl is rebuilt, sorted by sample index, from all journals under a file
  lock whenever a shard finishes, so N shards together write exactly what one run writes.
Sample i's crop and degradation depend on (seed, i) only, never on workers or shards.
"""

import fcntl
import json
import multiprocessing as mp
import os
from dataclasses import dataclass, field

from lightsr.degrade.config import build_pipeline
from lightsr.degrade.datasets_common import CROP_STREAM, modcrop
from lightsr.degrade.pipeline import RECORD_VERSION, sample_rng
from lightsr.degrade.presets import load_config
from lightsr.errors import JobError, LightSRError
from lightsr.files import atomic_write_text, remove_stale_temp_files
from lightsr.images import list_images, read_image, write_image

JOB_VERSION = 1


@dataclass
class DegradeJob:
    input_dir: str
    output_dir: str
    pipeline: str  # preset name or YAML file
    scale: int = None
    seed: int = 0
    patch: int = None  # HR patch size; None = whole (mod-cropped) images
    per_image: int = 1
    alpha: str = "drop"
    workers: int = 0
    shard: tuple = (0, 1)


@dataclass
class WorkItem:
    index: int
    source: str
    name: str


@dataclass
class Summary:
    total: int = 0  # pairs in this shard
    already_done: int = 0
    written: int = 0
    failed: dict = field(default_factory=dict)  # source file -> error message
    records_path: str = ""
    records_complete: bool = False


def parse_shard(text):
    """'i/N' -> (i, N) with 0 <= i < N."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise JobError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise JobError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def plan(job, inputs):
    """All work items of the whole job (every shard), in sample-index order."""
    items, seen = [], {}
    for i, path in enumerate(inputs):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in seen:
            raise JobError(f"{path} and {seen[stem]} would both be written as {stem}.png; rename one")
        seen[stem] = path
        for k in range(job.per_image):
            name = f"{stem}.png" if job.per_image == 1 else f"{stem}_{k:03d}.png"
            items.append(WorkItem(i * job.per_image + k, path, name))
    return items


def _manifest(job, config, scale, inputs):
    return {
        "version": JOB_VERSION,
        "record_version": RECORD_VERSION,  # noise drawn differently: a job is not resumed across versions
        "config": config,
        "scale": scale,
        "seed": job.seed,
        "patch": job.patch,
        "per_image": job.per_image,
        "alpha": job.alpha,
        "inputs": [os.path.basename(p) for p in inputs],
    }


def _check_manifest(path, manifest):
    if not os.path.exists(path):
        atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        return
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError) as e:
        raise JobError(f"{path}: unreadable job manifest ({e}); remove it or use another output folder") from None
    for key in sorted(set(old) | set(manifest)):
        if old.get(key) != manifest.get(key):
            what = "pipeline config" if key == "config" else key
            raise JobError(f"{os.path.dirname(path)} already holds a different job ({what} differs); "
                           f"rerun with the same options or choose another --output")


def _read_journal(path):
    """Record lines of one journal; a partial last line (a killed write) is skipped."""
    lines = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            if not raw.endswith("\n"):
                break
            try:
                lines.append(json.loads(raw))
            except ValueError:
                continue
    return lines


def _journal_lines(journal_dir):
    out = {}
    if os.path.isdir(journal_dir):
        for name in sorted(os.listdir(journal_dir)):
            if name.endswith(".jsonl"):
                for line in _read_journal(os.path.join(journal_dir, name)):
                    out[line["name"]] = line
    return out


def _open_journal(path):
    """Open a shard's journal for appending, cutting a partial last line first."""
    if os.path.exists(path):
        with open(path, "rb+") as f:
            data = f.read()
            keep = data.rfind(b"\n") + 1
            if keep != len(data):
                f.truncate(keep)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def assemble_records(out_dir, expected_names):
    """Rewrite OUT/records.jsonl from every journal (sorted by index); returns (path, complete)."""
    path = os.path.join(out_dir, "records.jsonl")
    with open(os.path.join(out_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lines = _journal_lines(os.path.join(out_dir, ".journal"))
        done = sorted((v for k, v in lines.items() if k in expected_names), key=lambda line: line["index"])
        atomic_write_text(path, "".join(json.dumps(line, sort_keys=True) + "\n" for line in done))
        return path, len(done) == len(expected_names)


# ---------------------------------------------------------------- worker side

_STATE = {}


def _init_worker(config, scale, job):
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    _STATE.update(pipeline=build_pipeline(config, scale=scale), job=job)


def make_pair(pipeline, job, item, hr, info):
    """Crop and degrade one work item from its decoded source; write both images; return its record line."""
    s = pipeline.scale
    crop = None
    if job.patch:
        h, w = hr.shape[:2]
        if h < job.patch or w < job.patch:
            raise LightSRError(f"{item.source}: is {w}x{h}, smaller than --patch {job.patch}")
        rng = sample_rng(job.seed, item.index, 0, CROP_STREAM)
        top, left = int(rng.integers(0, h - job.patch + 1)), int(rng.integers(0, w - job.patch + 1))
        hr = hr[top:top + job.patch, left:left + job.patch]
        crop = [top, left, job.patch, job.patch]
    else:
        hr = modcrop(hr, s)
        crop = [0, 0, hr.shape[0], hr.shape[1]]
    sample = pipeline.run(hr, job.seed, item.index)
    out = job.output_dir
    write_image(os.path.join(out, "hr", item.name), sample.hr, 16 if info.bit_depth == 16 else 8)
    write_image(os.path.join(out, "lr", item.name), sample.lr, 8)
    return {
        "index": item.index,
        "name": item.name,
        "hr": f"hr/{item.name}",
        "lr": f"lr/{item.name}",
        "source": os.path.basename(item.source),
        "crop": crop,
        "record": sample.record,
    }


def _work(group):
    """All pending pairs of one source image: the (possibly large) file is decoded once."""
    pipeline, job = _STATE["pipeline"], _STATE["job"]
    try:
        hr, info = read_image(group[0].source, job.alpha)
    except LightSRError as e:
        return [(False, item, str(e)) for item in group]
    out = []
    for item in group:
        try:
            out.append((True, item, make_pair(pipeline, job, item, hr, info)))
        except LightSRError as e:
            out.append((False, item, str(e)))
        except Exception as e:  # keep the job going; report what broke on which file
            out.append((False, item, f"{item.source}: {type(e).__name__}: {e}"))
    return out


def _by_source(items, most=16):
    """Work items grouped by source image, at most ``most`` per group (so that one image
    with many patches still spreads over the workers)."""
    groups = {}
    for item in items:
        groups.setdefault(item.source, []).append(item)
    return [g[i:i + most] for g in groups.values() for i in range(0, len(g), most)]


# ---------------------------------------------------------------- driver


def run(job, progress=None):
    """Run (or resume) a generation job; ``progress(n)`` is called as pairs finish."""
    config = load_config(job.pipeline)
    pipeline = build_pipeline(config, scale=job.scale, source_file=job.pipeline)
    if job.patch is not None and (job.patch < pipeline.scale or job.patch % pipeline.scale):
        raise JobError(f"--patch {job.patch} must be a positive multiple of the scale {pipeline.scale}")
    if job.per_image < 1:
        raise JobError(f"--per-image must be >= 1, got {job.per_image}")
    inputs = list_images(job.input_dir)
    if not inputs:
        raise JobError(f"{job.input_dir}: no images (png, jpg, bmp, tif, webp) in this folder")
    items = plan(job, inputs)
    out = job.output_dir
    for sub in ("hr", "lr", ".journal"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    _check_manifest(os.path.join(out, "job.json"), _manifest(job, config, pipeline.scale, inputs))
    for sub in ("hr", "lr"):
        remove_stale_temp_files(os.path.join(out, sub))

    i, n = job.shard
    mine = [it for it in items if it.index % n == i]
    done = _journal_lines(os.path.join(out, ".journal"))
    def finished(it):
        return it.name in done and all(os.path.exists(os.path.join(out, d, it.name)) for d in ("hr", "lr"))

    todo = [it for it in mine if not finished(it)]
    summary = Summary(total=len(mine), already_done=len(mine) - len(todo))
    if progress and summary.already_done:
        progress(summary.already_done)

    fd = _open_journal(os.path.join(out, ".journal", f"shard-{i}-of-{n}.jsonl"))
    try:
        job_for_workers = DegradeJob(**{**job.__dict__, "output_dir": out})
        if job.workers and job.workers > 0 and todo:
            ctx = mp.get_context("spawn")
            with ctx.Pool(job.workers, _init_worker, (config, pipeline.scale, job_for_workers)) as pool:
                results = pool.imap_unordered(_work, _by_source(todo), chunksize=1)
                _collect(results, fd, summary, progress)
        else:
            _STATE.update(pipeline=pipeline, job=job_for_workers)
            _collect(map(_work, _by_source(todo)), fd, summary, progress)
    finally:
        os.close(fd)
    summary.records_path, summary.records_complete = assemble_records(out, {it.name for it in items})
    return summary


def _collect(results, fd, summary, progress):
    for group in results:
        for ok, item, value in group:
            if ok:
                os.write(fd, (json.dumps(value, sort_keys=True) + "\n").encode("utf-8"))
                summary.written += 1
            else:
                summary.failed.setdefault(item.source, value)
        if progress:
            progress(len(group))
