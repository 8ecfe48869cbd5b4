"""A mask-ratio sweep: checkpoints x images x mask ratios x seeds, evaluated by the engine, logged to the store.

Both checkpoints of a study see identical masks because the engine draws the noise of (image, seed) with
``mask_noise(seed, L)`` whatever the model or the batch. Rows are appended one batch at a time, so a sweep killed at
any moment is resumed with ``resume=run_id``: only the missing cells are computed and written.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from experiments.images import ImageFailure, ImageItem, LoadedImage, expand_images, read_images
from experiments.store import LossRow, Run, RunStore, format_ratio, neutralize, utc_now
from mae_core.engine import check_batch_size
from mae_core.masking import check_seed, mask_ratio_value
from mae_core.packed import compute_dtype

if TYPE_CHECKING:
    from mae_core.model import MaskedAutoencoderViT

# cells per forward pass when the user does not say (the CLI's --batch-size): rows are appended once per batch, so
# a batch smaller than the engine's library default loses less work to a kill and moves the progress bar sooner
DEFAULT_BATCH_SIZE = 16
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SweepConfig:
    """What to measure; serialises straight into the manifest's ``config``."""

    images: tuple[str, ...]  # files, folders, .txt lists (see experiments.images)
    checkpoints: tuple[str, ...]  # anything mae_core.loading.load_model accepts, or keys of run_sweep(models=...)
    ratios: tuple[float, ...] = (0.75,)
    seeds: tuple[int, ...] = (0,)
    batch_size: int = DEFAULT_BATCH_SIZE
    dtype: str = "float32"
    device: str | None = None  # None: the engine's choice (CUDA when available)
    crop: bool = False  # centre crop instead of squashing to the model's size

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "images", tuple(str(i) for i in _as_tuple(self.images)))
        set_(self, "checkpoints", tuple(dict.fromkeys(str(c) for c in _as_tuple(self.checkpoints))))
        set_(self, "ratios", tuple(dict.fromkeys(_cell_ratio(r) for r in _as_tuple(self.ratios))))
        set_(self, "seeds", tuple(dict.fromkeys(check_seed(s) for s in _as_tuple(self.seeds))))
        set_(self, "batch_size", check_batch_size(self.batch_size))
        compute_dtype(self.dtype)  # ValueError naming the accepted dtypes
        if not self.images:
            raise ValueError("no images given: pass files, folders or a .txt list of paths")
        if not self.checkpoints:
            raise ValueError("no checkpoints given: pass registry names, local files or hf:// ids")
        if not self.ratios:
            raise ValueError("no mask ratios given, e.g. 0.1:0.9:0.1 or 0.5,0.75")
        if not self.seeds:
            raise ValueError("no seeds given, e.g. 0-4 or 0,1,2")

    @property
    def cells_per_image(self) -> int:
        return len(self.checkpoints) * len(self.ratios) * len(self.seeds)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _as_tuple(value: Any) -> tuple:
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


def _cell_ratio(value: object) -> float:
    """A user's mask ratio (checked by ``mask_ratio_value``) as the store writes it: 0.1 * 3 is the cell 0.3."""
    return float(format_ratio(mask_ratio_value(value)))


def parse_ratios(text: str) -> tuple[float, ...]:
    """``"0.1:0.9:0.1"`` (start:stop:step, stop included) or ``"0.5,0.75"`` -> mask ratios."""
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"mask ratios {text!r}: expected start:stop:step such as 0.1:0.9:0.1, or a comma list")
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            raise ValueError(f"mask ratios {text!r}: start, stop and step must be numbers") from None
        return ratio_range(start, stop, step)
    return tuple(_cell_ratio(p) for p in _split(text, "mask ratios"))


def ratio_range(start: float, stop: float, step: float) -> tuple[float, ...]:
    """Mask ratios from ``start`` to ``stop`` inclusive every ``step``; ``0.1 * 3`` comes out as 0.3."""
    if not step > 0 or stop < start:
        raise ValueError(f"mask ratios {start:g}:{stop:g}:{step:g}: need step > 0 and stop >= start")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    return tuple(_cell_ratio(round(start + i * step, 10)) for i in range(count))


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-4"`` (inclusive), ``"0,3,7"`` or a mix such as ``"0-2,10"`` -> seeds."""
    seeds: list[int] = []
    for part in _split(str(text), "seeds"):
        if "-" in part.lstrip("-"):
            low, _, high = part.partition("-")
            try:
                a, b = int(low), int(high)
            except ValueError:
                raise ValueError(f"seeds {text!r}: {part!r} is not a range like 0-4") from None
            if b < a:
                raise ValueError(f"seeds {text!r}: range {part!r} ends before it starts")
            seeds.extend(range(a, b + 1))
        else:
            try:
                seeds.append(int(part))
            except ValueError:
                raise ValueError(f"seeds {text!r}: {part!r} is not an integer seed") from None
    return tuple(check_seed(s) for s in seeds)


def _split(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ValueError(f"{what} {text!r}: expected a comma-separated list without empty entries")
    return parts


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`run_sweep`."""

    run_id: str
    run_dir: str
    rows: int  # rows the run holds now (one per completed cell)
    errors: tuple[dict[str, str], ...]  # images skipped in this call: {"image", "path", "reason"}
    status: str  # "finished" | "interrupted" | "failed"
    written: int = 0  # rows this call added
    cells: int = 0  # cells the run plans in all (images x checkpoints x ratios x seeds)

    @property
    def exit_code(self) -> int:
        """0 all good, 3 some images failed, 130 interrupted, 1 failed."""
        if self.status == "finished":
            return 3 if self.errors else 0
        return 130 if self.status == "interrupted" else 1


# ---- models ----
@dataclass(frozen=True)
class LoadedCheckpoint:
    name: str  # the name used in the store (the user's spec, or the models= key)
    model: Any
    record: dict[str, Any] = field(default_factory=dict)  # manifest entry: source, path, sha256, loss_type...

    @property
    def sha256(self) -> str:
        return str(self.record.get("sha256") or "")

    @property
    def loss_type(self) -> str:
        return str(self.record.get("loss_type") or "unknown")


def checkpoint_record(name: str, model: MaskedAutoencoderViT) -> dict[str, Any]:
    """Manifest entry for a model, from its ``checkpoint_info`` when it has one (models built in memory have none)."""
    info = model.checkpoint_info
    if info is None:
        return {"name": name, "source": "in-memory model", "sha256": None, "loss_type": "unknown"}
    record: dict[str, Any] = info.to_dict()  # sha256 is a (cached) property: hashed here when not known at load
    record["checkpoint_name"] = record["name"]
    record["name"] = name
    return record


def load_checkpoints(
    names: Sequence[str], models: Mapping[str, Any] | None, *, device: str | None
) -> list[LoadedCheckpoint]:
    """The sweep's models: those passed in ``models`` as they are, the others through ``load_model``."""
    loaded = []
    for name in names:
        if models is not None and name in models:
            model = models[name]
        else:
            from mae_core.loading import load_model  # heavy imports only when a checkpoint must be read

            # float32 weights whatever the sweep's dtype: the engine casts them once for bfloat16
            model = load_model(name, device=device)
        loaded.append(LoadedCheckpoint(name=name, model=model, record=checkpoint_record(name, model)))
    return loaded


# ---- planning ----
@dataclass(frozen=True)
class Plan:
    """What a (resumed) sweep still has to do."""

    work: list[ImageItem]  # images with at least one missing cell
    stored: set  # cell keys already stored for the images of ``work`` (only partially done images have any)


def plan_work(config: SweepConfig, items: Sequence[ImageItem], run: Run) -> Plan:
    """Compare the planned cells with the stored ones, per image, without holding every stored key in memory:
    complete images are recognised by their row count, and only partly done images (those in flight when a sweep
    was killed) have their keys read."""
    counts = run.cell_counts()
    if not counts:
        return Plan(work=list(items), stored=set())
    per_image = config.cells_per_image
    work = [item for item in items if counts.get(neutralize(item.name), 0) < per_image]
    partial = {neutralize(item.name) for item in work if counts.get(neutralize(item.name), 0)}
    return Plan(work=work, stored=run.done_cells(partial) if partial else set())


def _chunks(items: Sequence[ImageItem], size: int) -> Iterator[Sequence[ImageItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# ---- the sweep ----
def run_sweep(
    config: SweepConfig | None,
    *,
    root: str | os.PathLike | None = None,
    models: Mapping[str, Any] | None = None,
    resume: str | None = None,
    progress: Progress | None = None,
    on_start: Callable[[Run], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into the store at ``root``; returns when every cell is done or skipped.

    ``models`` maps checkpoint names to loaded models (used as they are); ``progress(done, total)`` is called after
    every batch; ``on_start(run)`` once the run folder exists. With ``resume=run_id`` the configuration comes from
    that run's manifest (``config`` may then be None) and only missing cells are computed.
    ``KeyboardInterrupt`` marks the run interrupted and is re-raised; other exceptions mark it failed.
    """
    store = RunStore(root)
    session = open_session(store, config, resume=resume, models=models)
    lock = session.run.acquire_writer()
    try:
        session.run.merge_shards()  # a torchrun sweep killed before its merge
        if on_start is not None:
            on_start(session.run)
        return session.execute(session.items, target=None, progress=progress, finish=True)
    finally:
        lock.release()


@dataclass
class SweepSession:
    """A run opened for writing: its config, images, models and the cells already stored."""

    run: Run
    config: SweepConfig
    items: list[ImageItem]
    checkpoints: list[LoadedCheckpoint]
    device: str
    known_hashes: dict[str, str] = field(default_factory=dict)

    def execute(
        self,
        items: Sequence[ImageItem],
        *,
        target: os.PathLike | None,
        progress: Progress | None,
        finish: bool,
        status_on_error: bool = True,
    ) -> SweepResult:
        """Evaluate the missing cells of ``items`` into ``target`` (default ``losses.csv``); with ``finish`` the
        manifest gets its final status. Errors and interruptions are recorded in the manifest, then re-raised."""
        try:
            written, errors, hashes = self._evaluate(items, target=target, progress=progress)
        except KeyboardInterrupt:
            if status_on_error:
                self.run.update_manifest(status="interrupted", ended=utc_now())
            raise
        except BaseException as err:
            if status_on_error:
                self.run.update_manifest(status="failed", ended=utc_now(), fatal=f"{type(err).__name__}: {err}")
            raise
        self.known_hashes.update(hashes)
        rows = 0
        if finish:
            rows = self.finish([e.to_dict() for e in errors])
        return SweepResult(
            run_id=self.run.run_id,
            run_dir=str(self.run.path),
            rows=rows,
            errors=tuple(e.to_dict() for e in errors),
            status="finished",
            written=written,
            cells=len(self.items) * self.config.cells_per_image,
        )

    def finish(self, errors: Sequence[Mapping[str, str]] = ()) -> int:
        """Final manifest: status finished, end time, image hashes, row count. Returns the row count."""
        rows = sum(self.run.cell_counts().values())
        self.run.add_errors(errors)
        missing = {neutralize(i.name): i.name for i in self.items if not self.known_hashes.get(i.name)}
        if missing:  # images finished by an earlier, killed session: their hashes are in the rows
            for stored, sha256 in self.run.image_hashes(set(missing)).items():
                self.known_hashes[missing[stored]] = sha256
        images = [{"name": i.name, "path": i.path, "sha256": self.known_hashes.get(i.name)} for i in self.items]
        self.run.update_manifest(status="finished", ended=utc_now(), rows=rows, images=images)
        return rows

    def _evaluate(
        self, items: Sequence[ImageItem], *, target: os.PathLike | None, progress: Progress | None
    ) -> tuple[int, list[ImageFailure], dict[str, str]]:
        config = self.config
        plan = plan_work(config, items, self.run)
        work, done = plan.work, plan.stored
        total = len(work) * config.cells_per_image
        finished, written = 0, 0
        errors: list[ImageFailure] = []
        hashes: dict[str, str] = {}
        if progress is not None:
            progress(0, total)
        by_name = {c.name: c for c in self.checkpoints}
        # read a few batches of images at a time: memory stays flat over folders of any size
        for chunk in _chunks(work, max(1, config.batch_size) * 4):
            loaded, failed = read_images(chunk)
            if failed:
                errors.extend(failed)
                self.run.add_errors([f.to_dict() for f in failed])
                finished += len(failed) * config.cells_per_image
                if progress is not None:
                    progress(finished, total)
            if not loaded:
                continue
            hashes.update({img.item.name: img.sha256 for img in loaded})
            for records in self._batches(loaded):
                rows = []
                stamp = utc_now()  # one time per batch: the rows of a batch are computed together
                for record in records:
                    image = loaded[record.image]  # the engine reports the image's index in its input
                    row = self._row(record, by_name[record.model], image, stamp)
                    if not done or row.key() not in done:  # the engine yields each cell once per call
                        rows.append(row)
                written += self.run.append_rows(rows, path=target)
                finished += len(records)
                if progress is not None:
                    progress(min(finished, total), total)
        return written, errors, hashes

    def _batches(self, loaded: Sequence[LoadedImage]) -> Iterator[Sequence[Any]]:
        from mae_core.engine import iter_evaluate

        config = self.config
        yield from iter_evaluate(
            {c.name: c.model for c in self.checkpoints},
            [img.image for img in loaded],
            list(config.ratios),
            list(config.seeds),
            batch_size=config.batch_size,
            dtype=config.dtype,
            device=self.device,
            crop=config.crop,
        )

    def _row(self, record: Any, checkpoint: LoadedCheckpoint, image: LoadedImage, stamp: str) -> LossRow:
        return LossRow(
            run_id=self.run.run_id,
            image=image.item.name,
            image_sha256=image.sha256,
            checkpoint=checkpoint.name,
            checkpoint_sha256=checkpoint.sha256,
            loss_type=checkpoint.loss_type,
            mask_ratio=float(record.mask_ratio),
            seed=int(record.seed),
            masked_patches=int(record.masked_patches),
            loss=float(record.loss),
            mse=float(record.mse),
            psnr=float(record.psnr),
            dtype=self.config.dtype,
            device=self.device,
            timestamp=stamp,
        )


def open_session(
    store: RunStore,
    config: SweepConfig | None,
    *,
    resume: str | None,
    models: Mapping[str, Any] | None,
    run_id: str | None = None,
    device: str | None = None,
    create: bool = True,
) -> SweepSession:
    """Create a run for ``config`` (or open ``resume``), expand its images and load its checkpoints.

    ``create=False`` opens an existing ``run_id`` without touching its manifest (torchrun ranks other than 0).
    """
    if resume is not None:
        run = store.open(resume)
        manifest = run.read_manifest()
        recorded = SweepConfig.from_dict(manifest["config"])
        if config is not None:
            # only how to compute may change on resume, never what
            recorded = dataclasses.replace(recorded, batch_size=config.batch_size, device=config.device)
        config = recorded
        items = [ImageItem(name=i["name"], path=i["path"]) for i in manifest.get("images", [])]
        hashes = {i["name"]: i["sha256"] for i in manifest.get("images", []) if i.get("sha256")}
    else:
        if config is None:
            raise ValueError("run_sweep needs a SweepConfig, or resume=RUN_ID")
        items = expand_images(config.images)
        run = None
        hashes = {}
    device = device or _pick_device(config.device)
    checkpoints = load_checkpoints(config.checkpoints, models, device=device)
    _check_ratios_fit(config, checkpoints)  # before a run folder exists: a bad ratio leaves no failed run behind
    records = [c.record for c in checkpoints]
    images = [{"name": i.name, "path": i.path, "sha256": hashes.get(i.name)} for i in items]
    if run is None:
        if create:
            run = store.create(
                config,
                run_id=run_id,
                checkpoints=records,
                ratios=list(config.ratios),
                seeds=list(config.seeds),
                dtype=config.dtype,
                device=device,
                cells=len(items) * config.cells_per_image,
                images=images,
            )
        else:
            run = store.open(run_id)
    elif create:
        manifest = run.read_manifest()
        _check_same_checkpoints(manifest.get("checkpoints", []), records)
        resumed = list(manifest.get("resumed", [])) + [utc_now()]
        run.update_manifest(status="running", ended=None, resumed=resumed, device=device)
    return SweepSession(
        run=run, config=config, items=items, checkpoints=checkpoints, device=device, known_hashes=hashes
    )


def _check_ratios_fit(config: SweepConfig, checkpoints: Sequence[LoadedCheckpoint]) -> None:
    from mae_core.masking import check_mask_ratio

    for checkpoint in checkpoints:
        num_patches = checkpoint.model.config.num_patches
        for ratio in config.ratios:
            try:
                check_mask_ratio(ratio, num_patches)
            except ValueError as err:
                raise ValueError(f"checkpoint {checkpoint.name!r} ({num_patches} patches): {err}") from None


def _check_same_checkpoints(recorded: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]) -> None:
    before = {r.get("name"): r.get("sha256") for r in recorded}
    for record in current:
        old, new = before.get(record["name"]), record.get("sha256")
        if old and new and old != new:
            raise ValueError(
                f"checkpoint {record['name']!r} changed since the run started (sha256 {old[:12]}... now "
                f"{new[:12]}...); start a new run instead of resuming"
            )


def _pick_device(device: str | None) -> str:
    if device:
        return str(device)
    from mae_core.engine import select_device

    return str(select_device(None))
