"""Offline dataset generation: HR folder -> OUT/hr, OUT/lr, OUT/records.jsonl.

Resumable and shardable:
- every image is written atomically (temporary file + rename); a temporary's name carries
  the job's token and the shard (``.tmp-<token>-<i>of<n>-...``), and a start-up removes only
  its own shard's temporaries, never another file;
- a pair counts as done once its record line is in a shard's journal
  (OUT/.journal/shard-I-of-N.jsonl, appended after both images exist); a killed run leaves
  at most a partial last line, which the next run drops before appending;
- OUT/job.json pins the job (pipeline config, scale, seed, crops, inputs with their size and
  modification time): a rerun with different options or changed inputs is refused instead of
  mixing two datasets; a non-empty folder without job.json is refused unless forced;
- one process per shard: OUT/.journal/shard-I-of-N.lock is held (flock) while a shard runs, so
  a second process on the same shard is refused while shards of one job array share OUT;
- OUT/records.jsonl is rebuilt, sorted by sample index, from all journals under a file
  lock whenever a shard finishes, so N shards together write exactly what one run writes;
- a worker process that dies (killed, out of memory) fails the job at once (the pairs already
  made are kept); an error writing the outputs (disk full) stops the job with one message.
Sample i's crop and degradation depend on (seed, i) only, never on workers or shards.
"""

import fcntl
import hashlib
import json
import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from lightsr.degrade.config import build_pipeline
from lightsr.degrade.datasets_common import CROP_STREAM, modcrop
from lightsr.degrade.pipeline import RECORD_VERSION, sample_rng
from lightsr.degrade.presets import load_config, preset_names
from lightsr.errors import ConfigError, JobError, LightSRError
from lightsr.files import atomic_write_bytes, atomic_write_text
from lightsr.images import encode_image, list_images, read_image

# 2: inputs pinned by size and modification time (version 1 pinned names only; still resumable)
JOB_VERSION = 2
_LOCK = ".lock"  # the folder's lock file (job.json creation, records.jsonl assembly)


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
    force: bool = False  # write into a non-empty folder that holds no job.json
    max_pixels: int = None  # inputs above it are refused from their header (None: images.MAX_PIXELS)


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


def _pin(path):
    st = os.stat(path)
    return {"name": os.path.basename(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


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
        "inputs": [_pin(p) for p in inputs],
    }


def _folder_lock(out_dir):
    """The folder's lock file, opened without truncating (a user's own .lock is left as it is)."""
    return os.open(os.path.join(out_dir, _LOCK), os.O_RDWR | os.O_CREAT, 0o644)


def _claim_folder(out, force):
    """Refuse to write into a folder of other files unless asked to (``--force``)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise JobError(f"{out}: exists and is not a folder; choose another --output")
    if not os.path.isdir(out) or force or os.path.exists(os.path.join(out, "job.json")):
        return
    others = sorted(set(os.listdir(out)) - {_LOCK})
    if others:
        raise JobError(f"{out}: not empty ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}) and not a lightsr "
                       f"degrade job (no job.json); choose a new --output, or pass --force to write into it")


def _check_manifest(path, manifest):
    """Create job.json (under the folder lock, so that shards starting together agree) or check it.

    Returns the job's token: a hash of job.json, carried by every temporary file of the job.
    """
    fd = _folder_lock(os.path.dirname(path))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not os.path.exists(path):
            atomic_write_text(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        try:
            with open(path, "rb") as f:
                raw = f.read()
            old = json.loads(raw)
            if not isinstance(old, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise JobError(f"{path}: unreadable job manifest ({e}); remove it or use another output folder") from None
    finally:
        os.close(fd)
    out = os.path.dirname(path)
    ours = dict(manifest)
    if old.get("version") == 1:  # written before inputs were pinned: compare names only
        ours["version"], ours["inputs"] = 1, [p["name"] for p in manifest["inputs"]]
    elif not isinstance(old.get("version"), int) or old["version"] > JOB_VERSION:
        raise JobError(f"{path}: job manifest version {old.get('version')!r} is not one this lightsr reads "
                       f"(it writes version {JOB_VERSION}); use the lightsr that started the job or another --output")
    for key in sorted(set(old) | set(ours)):
        if old.get(key) == ours.get(key):
            continue
        if key == "inputs":
            raise JobError(f"{out} already holds a different job: {_input_change(old.get('inputs'), ours['inputs'])}; "
                           f"restore the inputs or choose another --output")
        what = "pipeline config" if key == "config" else key
        raise JobError(f"{out} already holds a different job ({what} differs); "
                       f"rerun with the same options or choose another --output")
    return hashlib.sha256(raw).hexdigest()[:12]


def _input_change(old, new):
    """What changed in the input folder, in words, naming the first file concerned."""
    old = old if isinstance(old, list) else []
    name = (lambda p: p.get("name") if isinstance(p, dict) else p)
    before, after = {name(p): p for p in old}, {name(p): p for p in new}
    for n in after:
        if n not in before:
            return f"input {n} is new"
    for n in before:
        if n not in after:
            return f"input {n} is gone"
    for n, pin in after.items():
        if before[n] != pin:
            return f"input {n} changed since the job started (size or modification time)"
    return "the inputs are in another order"


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


def _lock_shard(out, shard):
    """Hold this shard's lock for the whole run; a second process on the same shard is refused."""
    i, n = shard
    fd = os.open(os.path.join(out, ".journal", f"shard-{i}-of-{n}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JobError(f"another lightsr degrade is writing {out}{f' (shard {i}/{n})' if n > 1 else ''}; "
                       f"wait for it to finish") from None
    return fd


def temp_prefix(token, shard):
    """The name prefix of the temporaries of one shard of one job."""
    return f".tmp-{token}-{shard[0]}of{shard[1]}-"


def _remove_own_temps(out, prefix):
    for sub in ("hr", "lr"):
        folder = os.path.join(out, sub)
        for name in os.listdir(folder):
            if name.startswith(prefix):
                os.unlink(os.path.join(folder, name))


def assemble_records(out_dir, expected_names):
    """Rewrite OUT/records.jsonl from every journal (sorted by index); returns (path, complete)."""
    path = os.path.join(out_dir, "records.jsonl")
    fd = _folder_lock(out_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        lines = _journal_lines(os.path.join(out_dir, ".journal"))
        done = sorted((v for k, v in lines.items() if k in expected_names), key=lambda line: line["index"])
        atomic_write_text(path, "".join(json.dumps(line, sort_keys=True) + "\n" for line in done))
        return path, len(done) == len(expected_names)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- worker side

_STATE = {}


class _WriteFailed(Exception):
    """Writing an output failed (disk full, read-only, permissions): the job stops."""


def _init_worker(config, scale, job, prefix):
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    _STATE.update(pipeline=build_pipeline(config, scale=scale), job=job, prefix=prefix)


def _write_output(path, data, prefix):
    """files.atomic_write_bytes with a temporary named by the job's token and shard, so that a
    start-up removes its own shard's leftovers and nothing else."""
    atomic_write_bytes(path, data, prefix=prefix)


def make_pair(pipeline, job, item, hr, info, prefix=".tmp-"):
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
    for sub, img, depth in (("hr", sample.hr, 16 if info.bit_depth == 16 else 8), ("lr", sample.lr, 8)):
        path = os.path.join(out, sub, item.name)
        data = encode_image(img, ".png", depth)
        try:
            _write_output(path, data, prefix)
        except OSError as e:
            raise _WriteFailed(f"{path}: cannot write ({e.strerror or e})") from None
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
    """All pending pairs of one source image: the (possibly large) file is decoded once.

    Returns [(status, item, record line or message)] with status "ok", "failed" (this input)
    or "fatal" (the outputs cannot be written: the job stops)."""
    pipeline, job, prefix = _STATE["pipeline"], _STATE["job"], _STATE["prefix"]
    try:
        hr, info = read_image(group[0].source, job.alpha, job.max_pixels)
    except LightSRError as e:
        return [("failed", item, str(e)) for item in group]
    out = []
    for item in group:
        try:
            out.append(("ok", item, make_pair(pipeline, job, item, hr, info, prefix)))
        except _WriteFailed as e:
            return out + [("fatal", it, str(e)) for it in group[len(out):]]
        except LightSRError as e:
            message = str(e)  # a pipeline's error names the op: add the file
            out.append(("failed", item, message if item.source in message else f"{item.source}: {message}"))
        except Exception as e:  # keep the job going; report what broke on which file
            out.append(("failed", item, f"{item.source}: {type(e).__name__}: {e}"))
    return out


def _by_source(items, most=16):
    """Work items grouped by source image, at most ``most`` per group (so that one image
    with many patches still spreads over the workers)."""
    groups = {}
    for item in items:
        groups.setdefault(item.source, []).append(item)
    return [g[i:i + most] for g in groups.values() for i in range(0, len(g), most)]


# ---------------------------------------------------------------- driver


def _load_pipeline(job):
    """The config dict and the pipeline; errors in a pipeline's contents name the file (or preset)."""
    config = load_config(job.pipeline)  # its errors name the file or the preset already
    try:
        return config, build_pipeline(config, scale=job.scale, source_file=job.pipeline)
    except ConfigError as e:
        if e.key == job.pipeline:
            raise
        where = f"preset {job.pipeline}" if job.pipeline in preset_names() else job.pipeline
        raise ConfigError(f"{where}: {e.key}" if e.key else where, e.detail) from None


def run(job, progress=None):
    """Run (or resume) a generation job; ``progress(n)`` is called as pairs finish.

    An OSError of the job's own files (disk full, permissions) is raised as one JobError."""
    try:
        return _run(job, progress)
    except OSError as e:
        where = e.filename or job.output_dir
        raise JobError(f"{where}: {e.strerror or e} (what was written is whole: rerun the same command to resume)") from None


def _run(job, progress):
    config, pipeline = _load_pipeline(job)
    if job.patch is not None and (job.patch < pipeline.scale or job.patch % pipeline.scale):
        raise JobError(f"--patch {job.patch} must be a positive multiple of the scale {pipeline.scale}")
    if job.per_image < 1:
        raise JobError(f"--per-image must be >= 1, got {job.per_image}")
    inputs = list_images(job.input_dir)
    if not inputs:
        raise JobError(f"{job.input_dir}: no images (png, jpg, bmp, tif, webp) in this folder")
    items = plan(job, inputs)
    out = job.output_dir
    _claim_folder(out, job.force)
    os.makedirs(out, exist_ok=True)
    token = _check_manifest(os.path.join(out, "job.json"), _manifest(job, config, pipeline.scale, inputs))
    for sub in ("hr", "lr", ".journal"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)

    lock = _lock_shard(out, job.shard)
    try:
        prefix = temp_prefix(token, job.shard)
        _remove_own_temps(out, prefix)
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
            groups = _by_source(todo)
            if job.workers and job.workers > 0 and todo:
                _run_pool(job.workers, (config, pipeline.scale, job_for_workers, prefix), groups, fd, summary, progress)
            else:
                _STATE.update(pipeline=pipeline, job=job_for_workers, prefix=prefix)
                for group in groups:
                    _collect(_work(group), fd, summary, progress)
        finally:
            os.close(fd)
        summary.records_path, summary.records_complete = assemble_records(out, {it.name for it in items})
    finally:
        os.close(lock)
    return summary


def _run_pool(workers, initargs, groups, fd, summary, progress):
    """The groups on a pool of spawned processes. A process that dies (SIGKILL, the OOM killer)
    breaks the pool at once: the finished pairs are journaled and the job fails naming what is
    not done (multiprocessing.Pool would wait forever for the lost task)."""
    executor = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=initargs)
    try:
        pending = {executor.submit(_work, g): g for g in groups}
        broken = None
        while pending and broken is None:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                group = pending.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool as e:
                    broken = e
                    pending[fut] = group
                    continue
                _collect(result, fd, summary, progress)
        if broken is not None:
            for fut in [f for f in pending if f.done() and f.exception() is None]:
                _collect(fut.result(), fd, summary, progress)  # finished before the break: keep them
                del pending[fut]
            left = [it for g in pending.values() for it in g]
            sources = sorted({os.path.basename(it.source) for it in left})
            raise JobError(f"a worker process died (killed by a signal or the out-of-memory killer?); {len(left)} pair(s) "
                           f"not done (from {', '.join(sources[:3])}{', ...' if len(sources) > 3 else ''}), "
                           f"{summary.written} written and kept: rerun the same command to finish "
                           f"(with fewer --workers if memory is short)")
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _collect(results, fd, summary, progress):
    fatal = None
    for status, item, value in results:
        if status == "ok":
            os.write(fd, (json.dumps(value, sort_keys=True) + "\n").encode("utf-8"))
            summary.written += 1
        elif status == "fatal":
            fatal = fatal or value
        else:
            summary.failed.setdefault(item.source, value)
    if fatal:
        raise JobError(f"{fatal}; {summary.written} pair(s) written and kept: free space (or fix the folder) and rerun "
                       f"the same command to finish")
    if progress:
        progress(len(results))
