"""A mask-ratio sweep: checkpoints x images x mask ratios x seeds, evaluated by the engine, logged to the store.

Both checkpoints of a study see identical masks because the engine draws the noise of (image, seed) with
``mask_noise(seed, L)`` whatever the model or the batch. Rows are appended one batch at a time, so a sweep killed at
any moment is resumed with ``resume=run_id``: only the missing cells are computed and written.

A run is opened for writing in one of three ways, each its own function: :func:`start_run` (a new run),
:func:`resume_run` (a run killed or interrupted earlier) and :func:`attach_run` (torchrun ranks > 0 joining the run
rank 0 opened). Each returns a :class:`SweepSession` that computes cells into the run.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from experiments.cells import CellTally, tally_cells
from experiments.config import SweepConfig
from experiments.manifest import CheckpointRecord, ImageRecord, Manifest
from experiments.resume import with_compute
from experiments.run_images import keep_image, keep_image_bytes
from experiments.sources import (
    DatasetReaders,
    DatasetSource,
    ImageFailure,
    ImageItem,
    LoadedImage,
    dataset_sources,
    expand_images,
    read_images,
)
from experiments.store import (
    LOSSES_NAME,
    MANIFEST_NAME,
    CellKey,
    LossRow,
    Run,
    RunStore,
    SkippedLine,
    environment,
    skipped_notes,
    utc_now,
)
from mae_core.checkpoints.loading import load_model
from mae_core.evaluation.engine import EvalRecord, iter_evaluate, select_device
from mae_core.evaluation.metrics import MetricPlan, plan_metrics
from mae_core.evaluation.prefetch import prefetch
from mae_core.evaluation.preprocess import ImageError
from mae_core.files import bytes_sha256, file_sha256
from mae_core.modeling.masking import check_mask_ratio
from mae_core.modeling.model import MaskedAutoencoderViT
from mae_core.options import METRIC_NAMES, SEED_METRICS, SWEEP_METRICS

Progress = Callable[[int, int], None]
SweepStatus = Literal["finished", "interrupted", "failed"]


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`."""

    run_id: str
    run_dir: str
    rows: int  # rows the run holds now (one per completed cell)
    errors: tuple[ImageFailure, ...]  # images skipped in this call
    status: SweepStatus
    written: int = 0  # rows this call added
    cells: int = 0  # cells the run plans in all (images x checkpoints x masks x ratios x seeds)
    notes: tuple[str, ...] = ()  # one line each: a metric that was left out, and how to get it

    def describe(self) -> str:
        """One line for people: the status and where the rows are (a CSV is named only when it holds rows)."""
        if self.rows == 0 and self.status == "failed":
            manifest = os.path.join(self.run_dir, MANIFEST_NAME)
            return f"run {self.run_id}: failed, no rows: no image could be read (reasons in {manifest})"
        where = os.path.join(self.run_dir, LOSSES_NAME)
        return f"run {self.run_id}: {self.status}, {self.rows} rows ({self.written} new) in {where}"

    @property
    def exit_code(self) -> int:
        """0 all good, 3 images could not be read (the run is failed when none could), 130 interrupted, 1 failed."""
        if self.errors and self.status in ("finished", "failed"):
            return 3
        if self.status == "finished":
            return 0
        return 130 if self.status == "interrupted" else 1


# ---- models ----
@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint of the sweep: its name in the store, the model, and the record the manifest keeps of it."""

    name: str  # the user's spec, or the key of run_sweep(models=...)
    model: MaskedAutoencoderViT
    record: CheckpointRecord  # source, sha256 (read once from the model's checkpoint_info), loss_type...


def load_checkpoints(
    names: Sequence[str], models: Mapping[str, MaskedAutoencoderViT] | None, *, device: str | None
) -> list[LoadedCheckpoint]:
    """The sweep's models: those passed in ``models`` as they are, the others through ``load_model``."""
    loaded = []
    for name in names:
        if models is not None and name in models:
            model = models[name]
        else:
            # float32 weights whatever the sweep's dtype: the engine casts them once for bfloat16
            model = load_model(name, device=device)
        record = CheckpointRecord.of(name, model.checkpoint_info)  # None for a model built in memory
        loaded.append(LoadedCheckpoint(name=name, model=model, record=record))
    return loaded


# ---- planning ----
@dataclass(frozen=True)
class Plan:
    """What a (resumed) sweep still has to do."""

    work: list[ImageItem]  # images with at least one missing cell
    stored: set[CellKey]  # cell keys already stored for the images of ``work`` (only partly done images have any)
    skipped: tuple[SkippedLine, ...] = ()  # lines of the run's files that could not be read (their cells are missing)


def plan_work(items: Sequence[ImageItem], run: Run, tally: CellTally) -> Plan:
    """The images of ``items`` that miss a cell of the run's plan, and the cells they already hold (``tally``:
    :func:`experiments.cells.tally_cells`, cell by cell, never by row count)."""
    work = [item for item in items if not tally.complete(item.name)]
    stored = set().union(*(tally.keys(item.name) for item in work))
    return Plan(work=work, stored=stored, skipped=tally.skipped)


def _chunks(items: Sequence[ImageItem], size: int) -> Iterator[Sequence[ImageItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def images_per_read(config: SweepConfig) -> int:
    """How many images one read decodes: enough for about four full engine batches of every checkpoint, so batches
    stay full, and no more, since decoded photos are tens of megabytes each (two reads are held at a time)."""
    per_checkpoint = max(1, len(config.ratios) * len(config.seeds))
    return max(1, -(-4 * max(1, config.batch_size) // per_checkpoint))


# ---- the sweep ----
def run_sweep(
    config: SweepConfig | None,
    *,
    root: str | os.PathLike | None = None,
    models: Mapping[str, MaskedAutoencoderViT] | None = None,
    resume: str | None = None,
    progress: Progress | None = None,
    on_start: Callable[[Run], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into the store at ``root``; returns when every cell is done or skipped.

    ``models`` maps checkpoint names to loaded models (used as they are); ``progress(done, total)`` is called after
    every batch; ``on_start(run)`` once the run folder exists; ``on_note(line)`` for each note of the session (a
    metric left out, such as lpips without its weights, and what to fetch) before any cell is computed. With
    ``resume=run_id`` the configuration comes from that run's manifest (``config`` may then be None) and only
    missing cells are computed.
    ``KeyboardInterrupt`` marks the run interrupted and is re-raised; other exceptions mark it failed.
    """
    session = start_or_resume(RunStore(root), config, resume=resume, models=models)
    lock = session.run.acquire_writer()
    try:
        session.run.merge_shards()  # a torchrun sweep killed before its merge
        if on_start is not None:
            on_start(session.run)
        for line in session.notes if on_note is not None else ():
            on_note(line)
        with _outcome_recorded(session.run):
            written, errors = session.compute(session.items, target=None, progress=progress, on_note=on_note)
        rows, status = session.finish(errors)
        return session.result(status=status, rows=rows, errors=errors, written=written)
    finally:
        lock.release()


@contextmanager
def _outcome_recorded(run: Run) -> Iterator[None]:
    """Mark the run interrupted (Ctrl-C, SIGTERM) or failed (any other exception, named) before re-raising."""
    try:
        yield
    except KeyboardInterrupt:
        run.update_manifest(status="interrupted", ended=utc_now())
        raise
    except BaseException as err:
        run.update_manifest(status="failed", ended=utc_now(), fatal=f"{type(err).__name__}: {err}")
        raise


@dataclass
class SweepSession:
    """A run opened for writing: its config, images, models and the image hashes known so far."""

    run: Run
    config: SweepConfig
    items: list[ImageItem]
    checkpoints: list[LoadedCheckpoint]
    device: str
    metrics: MetricPlan  # the optional metrics its rows carry
    known_hashes: dict[str, str] = field(default_factory=dict)  # image name -> sha256
    readers: DatasetReaders = field(default_factory=DatasetReaders)  # datasets stay open across chunks

    @property
    def notes(self) -> tuple[str, ...]:
        """One line each for people: a metric left out and how to get it, a seed metric left empty and why."""
        notes = (self.metrics.note,) if self.metrics.note else ()
        seeds = len(self.config.seeds)
        for name in (n for n in self.metrics.names if n in SEED_METRICS) if seeds < 2 else ():
            notes += (
                f"{name} left empty: it is measured over a run's seeds and this run has {seeds}; give --seeds "
                "0-15 (two or more) to measure it",
            )
        return notes

    def compute(
        self,
        items: Sequence[ImageItem],
        *,
        target: os.PathLike | None,
        progress: Progress | None,
        on_note: Callable[[str], None] | None = None,
    ) -> tuple[int, tuple[ImageFailure, ...]]:
        """Evaluate the missing cells of ``items`` into ``target`` (default ``losses.csv``); returns the rows
        written and the images that could not be read (already added to the manifest's errors). ``on_note(line)``
        hears of stored lines that could not be read (their cells are measured again)."""
        config = self.config
        plan = plan_work(items, self.run, self.tally())
        for line in skipped_notes(plan.skipped) if on_note is not None else ():
            on_note(f"{line}; their cells are measured again")
        total = len(plan.work) * config.cells_per_image
        finished, written = 0, 0
        errors: list[ImageFailure] = []
        if progress is not None:
            progress(0, total)
        # read a few batches' images at a time, the next read on a background thread while these compute: memory
        # stays flat over folders of any size and the model does not wait for decoding (one reading thread, in
        # order, so a dataset stream is read forward by that thread alone)
        read = functools.partial(read_images, readers=self.readers)
        for _chunk, (loaded, failed) in prefetch(_chunks(plan.work, images_per_read(config)), read):
            if failed:
                errors.extend(failed)
                self.run.add_errors(failed)
                finished += len(failed) * config.cells_per_image
                if progress is not None:
                    progress(finished, total)
            self.known_hashes.update({img.item.name: img.sha256 for img in loaded})
            if config.keep_images:  # before the rows: a stored row always finds its image again
                for image in loaded:
                    if image.data is not None:  # a dataset row: its encoded bytes as read
                        keep_image_bytes(self.run, image.data, image.sha256)
                    else:
                        keep_image(self.run, image.item.path, image.sha256)
            for records in self._batches(loaded):
                written += self.run.append_rows(self._new_rows(records, loaded, plan.stored), path=target)
                finished += len(records)
                if progress is not None:
                    progress(min(finished, total), total)
        return written, tuple(errors)

    def tally(self) -> CellTally:
        """The planned cells the run holds now, checked against the image hashes known and the checkpoints' sha256."""
        return tally_cells(
            self.run,
            self.config,
            {item.name: self.known_hashes.get(item.name) for item in self.items},
            {c.name: c.record.sha256 for c in self.checkpoints},
        )

    def finish(self, errors: Sequence[ImageFailure] = ()) -> tuple[int, SweepStatus]:
        """Final manifest: end time, image hashes, the planned cells held, and status: ``finished``, or ``failed``
        when no image could be read (nothing was measured). Returns the cells held and the status."""
        self.run.add_errors(errors)
        missing = [i.name for i in self.items if not self.known_hashes.get(i.name)]
        if missing:  # images finished by an earlier, killed session: their hashes are in the rows
            self.known_hashes.update(self.run.image_hashes(missing))
        rows = self.tally().total
        images = _image_records(self.items, self.known_hashes)
        if rows == 0 and self.run.read_manifest().errors:
            fatal = "no image could be read (see errors); nothing was measured"
            self.run.update_manifest(status="failed", ended=utc_now(), rows=0, images=images, fatal=fatal)
            return rows, "failed"
        self.run.update_manifest(status="finished", ended=utc_now(), rows=rows, images=images)
        return rows, "finished"

    def result(self, *, status: SweepStatus, rows: int, errors: Sequence[ImageFailure], written: int) -> SweepResult:
        """A :class:`SweepResult` of this run."""
        return SweepResult(
            run_id=self.run.run_id,
            run_dir=str(self.run.path),
            rows=rows,
            errors=tuple(errors),
            status=status,
            written=written,
            cells=len(self.items) * self.config.cells_per_image,
            notes=self.notes,
        )

    def _batches(self, loaded: Sequence[LoadedImage]) -> Iterator[list[EvalRecord]]:
        if not loaded:
            return iter(())
        config = self.config
        return iter_evaluate(
            {c.name: c.model for c in self.checkpoints},
            [img.image for img in loaded],
            list(config.ratios),
            list(config.seeds),
            batch_size=config.batch_size,
            dtype=config.dtype,
            device=self.device,
            crop=config.crop,
            metrics=self.metrics.names,
            masks=config.masks,
        )

    def _new_rows(
        self, records: Sequence[EvalRecord], loaded: Sequence[LoadedImage], stored: set[CellKey]
    ) -> list[LossRow]:
        """The rows of one computed batch, less the cells an earlier session already stored."""
        by_name = {c.name: c for c in self.checkpoints}
        stamp = utc_now()  # one time per batch: the rows of a batch are computed together
        rows = []
        for record in records:
            image = loaded[record.image]  # the engine reports the image's index in its input
            row = self._row(record, by_name[record.model], image, stamp)
            if not stored or self.run.key(row) not in stored:  # the engine yields each cell once per call
                rows.append(row)
        return rows

    def _row(self, record: EvalRecord, checkpoint: LoadedCheckpoint, image: LoadedImage, stamp: str) -> LossRow:
        return LossRow(
            run_id=self.run.run_id,
            image=image.item.name,
            image_sha256=image.sha256,
            checkpoint=checkpoint.name,
            checkpoint_sha256=checkpoint.record.sha256 or "",
            loss_type=checkpoint.record.loss_type,
            mask_ratio=float(record.mask_ratio),
            seed=int(record.seed),
            masked_patches=int(record.masked_patches),
            loss=float(record.loss),
            mse=float(record.mse),
            psnr=float(record.psnr),
            dtype=self.config.dtype,
            device=self.device,
            timestamp=stamp,
            ssim=record.ssim,
            lpips=record.lpips,
            detail=record.detail,
            visible_loss=record.visible_loss,
            crop=self.config.crop,
            mask=record.mask,
            mask_hash=record.mask_hash,
            size=checkpoint.model.config.img_size,
            spread=_cell_value(record.spread),
        )


# ---- opening a run: new, resumed, or joined by another torchrun rank ----
def start_run(
    store: RunStore,
    config: SweepConfig,
    *,
    models: Mapping[str, MaskedAutoencoderViT] | None = None,
    run_id: str | None = None,
    device: str | None = None,
) -> SweepSession:
    """A new run of ``config``: images expanded and checkpoints loaded and checked before the run folder exists, so
    a bad argument leaves no failed run behind."""
    items = expand_images(config.images, datasets=config.dataset_options)
    device, checkpoints = _load_for(config, models, device)
    metrics = plan_metrics(config.metrics, device=device)
    run = store.create(
        config,
        run_id=run_id,
        checkpoints=tuple(c.record for c in checkpoints),
        ratios=config.ratios,
        seeds=config.seeds,
        dtype=config.dtype,
        device=device,
        cells=len(items) * config.cells_per_image,
        images=_image_records(items, {}),
        datasets=dataset_sources(items),
        metrics=metrics.computed,
    )
    return SweepSession(run=run, config=config, items=items, checkpoints=checkpoints, device=device, metrics=metrics)


def resume_run(
    store: RunStore,
    run_id: str,
    config: SweepConfig | None = None,
    *,
    models: Mapping[str, MaskedAutoencoderViT] | None = None,
    device: str | None = None,
) -> SweepSession:
    """Reopen ``run_id`` to compute its missing cells, as recorded: only how to compute (``config``'s batch size
    and device) may change, never what. The checkpoints must still be the recorded files; the manifest says running
    again and notes the resume."""
    run = store.open(run_id)
    manifest = run.read_manifest()
    recorded = manifest.recorded_config()
    if config is not None:
        recorded = with_compute(recorded, config)
    session = _reopen(run, manifest, recorded, models, device)
    _check_same_checkpoints(manifest.checkpoints, [c.record for c in session.checkpoints])
    _check_same_images(run, session.items, session.known_hashes, session.readers)
    computed = tuple(n for n in METRIC_NAMES if n in manifest.computed_metrics or n in session.metrics.computed)
    run.update_manifest(
        status="running",
        ended=None,
        resumed=(*manifest.resumed, utc_now()),
        device=session.device,
        metrics=computed,  # every metric some of its rows carry
        environment=environment(),  # this process now writes the run: `runs` checks its pid
    )
    return session


def attach_run(store: RunStore, run_id: str, config: SweepConfig, *, device: str) -> SweepSession:
    """Open the run that torchrun's rank 0 started or resumed, with rank 0's ``config``, to compute a share of its
    cells on ``device``; the manifest is rank 0's to write."""
    run = store.open(run_id)
    return _reopen(run, run.read_manifest(), config, None, device)


def start_or_resume(
    store: RunStore,
    config: SweepConfig | None,
    *,
    resume: str | None,
    models: Mapping[str, MaskedAutoencoderViT] | None = None,
    device: str | None = None,
) -> SweepSession:
    """:func:`resume_run` when ``resume`` names a run, else :func:`start_run` (for callers taking both options)."""
    if resume is not None:
        return resume_run(store, resume, config, models=models, device=device)
    if config is None:
        raise ValueError("run_sweep needs a SweepConfig, or resume=RUN_ID")
    return start_run(store, config, models=models, device=device)


def _reopen(
    run: Run,
    manifest: Manifest,
    config: SweepConfig,
    models: Mapping[str, MaskedAutoencoderViT] | None,
    device: str | None,
) -> SweepSession:
    """A session on an existing run: its recorded images (and the hashes already known), checkpoints loaded."""
    items = [_recorded_item(i, manifest.datasets) for i in manifest.images]
    hashes = {i.name: i.sha256 for i in manifest.images if i.sha256}
    device, checkpoints = _load_for(config, models, device)
    # the default set is decided when a run starts (lpips: were its weights there?); later sessions compute what
    # the manifest lists, so every row of a run carries the same metrics (a run whose manifest lists none: none)
    requested = (
        config.metrics
        if config.metrics is not None
        else tuple(n for n in manifest.computed_metrics if n in SWEEP_METRICS)
    )
    return SweepSession(
        run=run,
        config=config,
        items=items,
        checkpoints=checkpoints,
        device=device,
        metrics=plan_metrics(requested, device=device),
        known_hashes=hashes,
    )


def _load_for(
    config: SweepConfig, models: Mapping[str, MaskedAutoencoderViT] | None, device: str | None
) -> tuple[str, list[LoadedCheckpoint]]:
    """The device and the checkpoints of ``config``, every ratio checked against every checkpoint's patch grid."""
    device = str(select_device(device or config.device))  # ValueError for a device this machine cannot use
    checkpoints = load_checkpoints(config.checkpoints, models, device=device)
    for checkpoint in checkpoints:
        num_patches = checkpoint.model.config.num_patches
        for ratio in config.ratios:
            try:
                check_mask_ratio(ratio, num_patches)
            except ValueError as err:
                raise ValueError(f"checkpoint {checkpoint.name!r} ({num_patches} patches): {err}") from None
    return device, checkpoints


def _cell_value(value: float | None) -> float | None:
    """A metric as its cell holds it: None (an empty cell) where it was not computed or has no value (NaN: the
    spread of fewer than two masks)."""
    return None if value is None or math.isnan(value) else value


def _image_records(items: Sequence[ImageItem], hashes: Mapping[str, str]) -> tuple[ImageRecord, ...]:
    position = {id(source): k for k, source in enumerate(dataset_sources(items))}
    return tuple(
        ImageRecord(
            name=i.name,
            path=i.path,
            sha256=hashes.get(i.name),
            dataset=position[id(i.dataset)] if i.dataset is not None else None,
            index=i.index,
        )
        for i in items
    )


def _recorded_item(record: ImageRecord, datasets: Sequence[DatasetSource]) -> ImageItem:
    """An image as the manifest records it: a file, or the row of a recorded dataset (read at its commit)."""
    if record.dataset is None:
        return ImageItem(name=record.name, path=record.path)
    return ImageItem(name=record.name, path=record.path, index=record.index, dataset=datasets[record.dataset])


def _check_same_images(run: Run, items: Sequence[ImageItem], known: Mapping[str, str], readers: DatasetReaders) -> None:
    """Re-hash the images already measured (sha256 in the manifest or the rows): image files, and rows of local
    datasets (a Hub dataset is read at its pinned commit, which cannot change). An image whose bytes changed since
    the run started would mix two images under one name, so the resume is refused with its name."""
    hashes = dict(known)
    unhashed = [i.name for i in items if i.name not in hashes]
    if unhashed:  # measured by a session that was killed before it wrote the manifest's hashes
        hashes.update(run.image_hashes(unhashed))
    changed = []
    for item in items:
        before = hashes.get(item.name)
        if not before:
            continue
        if item.dataset is not None and item.index is not None and item.dataset.kind != "hub":
            try:
                now = bytes_sha256(readers.read(item.dataset, item.index))
            except ImageError as err:
                changed.append(f"{item.name!r} (now unreadable: {err})")
                continue
        elif item.index is None and os.path.isfile(item.path):
            now = file_sha256(item.path)
        else:
            continue
        if now != before:
            changed.append(f"{item.name!r} (sha256 {before[:12]}... now {now[:12]}...)")
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise ValueError(
            f"image {changed[0]}{more} changed since run {run.run_id} started; restore the file(s) or dataset(s) or "
            "start a new run"
        )


def _check_same_checkpoints(recorded: Sequence[CheckpointRecord], current: Sequence[CheckpointRecord]) -> None:
    before = {r.name: r.sha256 for r in recorded}
    for record in current:
        old, new = before.get(record.name), record.sha256
        if old and new and old != new:
            raise ValueError(
                f"checkpoint {record.name!r} changed since the run started (sha256 {old[:12]}... now "
                f"{new[:12]}...); start a new run instead of resuming"
            )
