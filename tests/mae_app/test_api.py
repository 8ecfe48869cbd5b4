"""The launched app on localhost, driven by gradio_client: /compare, /sweep, parallel clients, bad files."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pandas as pd
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from mae_app import MAEApp, default_app
from mae_app.handlers import EXAMPLES_DIR
from mae_app.panels import SCALE_WIDTH
from mae_core.evaluation.preprocess import load_image
from mae_core.evaluation.reconstruct import reconstruct
from mae_core.options import METRIC_NAMES
from tests.conftest import make_image
from tests.mae_app.helpers import NAMES, make_app, save_tiny_checkpoints, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[MAEApp, str]]:
    folder = tmp_path_factory.mktemp("app")
    app = make_app(folder / "runs", save_tiny_checkpoints(folder))
    with serve(app) as (_, url):
        yield app, url


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("images") / "picture.png"
    make_image(48, 40).save(path)
    return str(path)


def table_frame(value: dict) -> pd.DataFrame:
    return pd.DataFrame(value["data"], columns=value["headers"])


def test_named_endpoints_are_the_documented_seven(server):
    _, url = server
    endpoints = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    expected = {"/compare", "/sweep", "/replay", "/attention", "/uncertainty", "/difference", "/breakdown"}
    assert set(endpoints) == expected
    breakdown = endpoints["/breakdown"]
    assert [p["parameter_name"] for p in breakdown["parameters"]] == ["run_ids", "image", "threshold"]
    assert len(breakdown["returns"]) == 2
    compare = endpoints["/compare"]["parameters"]
    assert len(compare) == 10  # image, two checkpoints, ratio, seed, crop, strategy, removed, native, denorm
    # older callers need not send the last four
    assert [p["parameter_default"] for p in compare[-4:]] == ["random", "", False, "honest"]
    assert [p["parameter_name"] for p in endpoints["/replay"]["parameters"]] == [
        "run_id",
        "image",
        "mask_ratio",
        "seed",
        "mask",
    ]
    assert len(endpoints["/replay"]["returns"]) == 12
    names = ["image", "first", "second", "mask_ratio", "seed", "crop", "strategy", "removed", "native", "denorm"]
    assert [p["parameter_name"] for p in compare] == names
    assert endpoints["/sweep"]["parameters"][-1]["parameter_name"] == "masks"
    assert len(endpoints["/compare"]["returns"]) == 12


def test_compare_returns_png_panels_and_the_metrics_table(server, picture):
    _, url = server
    result = Client(url, verbose=False).predict(handle_file(picture), *NAMES, 0.5, 4, False, api_name="/compare")
    assert len(result) == 12
    panels, table, note = result[:10], table_frame(result[10]), result[11]
    for index, path in enumerate(panels):
        with Image.open(path) as img:  # the model's size; the heatmap (4, 9) enlarged beside its colour bar
            assert img.format == "PNG" and img.size == ((32, 32) if index % 5 != 4 else (224 + SCALE_WIDTH, 224))
    assert list(table["checkpoint"]) == list(NAMES)
    assert list(table["masked_patches"]) == [8, 8]
    assert {"ssim", "detail", "visible_loss"} <= set(table.columns)
    assert "same mask" in note
    assert_four_digits(table)


def assert_four_digits(table: pd.DataFrame) -> None:
    """Every number of a table the app shows has at most 4 significant digits."""
    numbers = [v for v in table.to_numpy().ravel() if isinstance(v, float) and np.isfinite(v)]
    assert numbers
    assert all(float(f"{v:.4g}") == v for v in numbers), [v for v in numbers if float(f"{v:.4g}") != v]


def test_compare_takes_a_strategy_and_drawn_patches(server, picture):
    app, url = server
    client = Client(url, verbose=False)
    for strategy in ("block", "grid"):
        result = client.predict(handle_file(picture), *NAMES, 0.75, 3, False, strategy, api_name="/compare")
        local = app.compare(picture, *NAMES, 0.75, 3, False, strategy)
        assert list(table_frame(result[10])["loss"]) == pytest.approx(list(local[10]["loss"]), abs=1e-6)
        assert f"({strategy}, seed 3)" in result[11]
    for strategy, removed in (("custom", "0, 5, 10, 15"), ("draw", [0, 5, 10, 15])):
        result = client.predict(handle_file(picture), *NAMES, 0.5, 0, False, strategy, removed, api_name="/compare")
        assert list(table_frame(result[10])["masked_patches"]) == [4, 4]
        assert "4 of 16 patches removed (drawn)" in result[11]
        with Image.open(result[1]) as masked, Image.open(result[0]) as original:
            changed = (np.asarray(masked) != np.asarray(original)).any(axis=-1).reshape(4, 8, 4, 8).any(axis=(1, 3))
        assert np.argwhere(changed.reshape(-1)).reshape(-1).tolist() == [0, 5, 10, 15]  # the diagonal, as drawn
    by_name = client.predict(image=handle_file(picture), strategy="custom", removed=[3, 12], api_name="/compare")
    assert list(table_frame(by_name[10])["masked_patches"]) == [2, 2]
    with pytest.raises(AppError, match="no patch is removed"):
        client.predict(handle_file(picture), *NAMES, 0.5, 0, False, "custom", "", api_name="/compare")


def test_compare_keeps_the_aspect_when_asked(server, picture):
    app, url = server
    client = Client(url, verbose=False)
    # the 48 x 40 picture at its own size: 8 px patches, 40 x 48 (a 5 x 6 grid) instead of the square 32 x 32
    result = client.predict(handle_file(picture), *NAMES, 0.5, 4, False, "block", "", True, api_name="/compare")
    for index, path in enumerate(result[:10]):
        with Image.open(path) as img:
            if index % 5 == 4:  # the error heatmap: enlarged by a whole factor, its colour bar beside it
                width, height = img.size
                assert height >= 224 and (width - SCALE_WIDTH) * 40 == height * 48
            else:
                assert img.size == (48, 40)
    assert list(table_frame(result[10])["masked_patches"]) == [15, 15]
    local = app.compare(picture, *NAMES, 0.5, 4, False, "block", "", True)
    assert list(table_frame(result[10])["loss"]) == pytest.approx(list(local[10]["loss"]), abs=1e-6)
    squashed = client.predict(handle_file(picture), *NAMES, 0.5, 4, api_name="/compare")
    with Image.open(squashed[0]) as img:
        assert img.size == (32, 32)
    with pytest.raises(AppError, match="untick 'Keep aspect'"):
        client.predict(handle_file(picture), *NAMES, 0.5, 0, False, "custom", "0, 5", True, api_name="/compare")


def test_eight_parallel_clients_each_get_their_own_answer(server, picture):
    app, url = server
    jobs = [(0.25 + 0.25 * (i % 3), 100 + i) for i in range(8)]
    expected = {job: app.compare(picture, *NAMES, *job, False)[10] for job in jobs}
    answers: dict[tuple[float, int], pd.DataFrame] = {}
    failures: list[BaseException] = []

    def call(job: tuple[float, int]) -> None:
        try:
            client = Client(url, verbose=False)
            result = client.predict(handle_file(picture), *NAMES, *job, False, api_name="/compare")
            answers[job] = table_frame(result[10])
        except BaseException as err:  # reported below, with the job that failed
            failures.append(err)

    threads = [threading.Thread(target=call, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures
    assert set(answers) == set(jobs)
    for job in jobs:
        got, want = answers[job], expected[job]
        assert list(got["masked_patches"]) == list(want["masked_patches"])
        for column in ("loss", "mse", "psnr_db"):
            assert list(got[column]) == pytest.approx(list(want[column]), abs=1e-6), (job, column)
    # the eight requests differ, so a mix-up between clients could not go unseen
    assert len({tuple(expected[job]["loss"]) for job in jobs}) == 8


def api_defaults(client: Client, endpoint: str = "/compare") -> list:
    parameters = client.view_api(print_info=False, return_format="dict")["named_endpoints"][endpoint]["parameters"]
    return [p["parameter_default"] for p in parameters]


def test_a_compare_call_with_only_an_image_works_without_the_vit_l_files(tmp_path, isolated_caches, picture):
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url):
        client = Client(url, verbose=False)
        assert api_defaults(client)[1:6] == ["tiny-pixel", "tiny-gan", 0.75, 0, False]
        result = client.predict(handle_file(picture), api_name="/compare")
    assert list(table_frame(result[10])["checkpoint"]) == ["tiny-pixel", "tiny-gan"]
    assert "same mask" in result[11]


def test_the_api_defaults_follow_the_pair_while_the_server_runs(tmp_path, picture):
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    shown = {"pair": NAMES}
    app.default_pair = lambda: (*shown["pair"], "test pair")
    with serve(app) as (_, url):
        assert api_defaults(Client(url, verbose=False))[1:3] == list(NAMES)
        shown["pair"] = NAMES[::-1]  # e.g. a background download completed the preferred pair
        app.page_pair()
        client = Client(url, verbose=False)
        assert api_defaults(client)[1:3] == list(NAMES[::-1])
        result = client.predict(handle_file(picture), api_name="/compare")
    assert list(table_frame(result[10])["checkpoint"]) == list(NAMES[::-1])


def test_sweep_returns_table_csv_and_run_id(server, picture):
    app, url = server
    plot, table, csv_path, note = Client(url, verbose=False).predict(
        handle_file(picture), [], *NAMES, 0.25, 0.75, 0.25, 2, 0, "loss", False, api_name="/sweep"
    )
    summary = table_frame(table)
    assert len(summary) == 6 and set(summary["checkpoint"]) == set(NAMES)
    rows = pd.read_csv(csv_path)
    assert len(rows) == 2 * 3 * 2
    run_id = rows["run_id"].iloc[0]
    assert run_id in note
    assert (Path(app.run_root) / run_id / "manifest.json").is_file()
    assert plot is not None


def test_sweep_takes_mask_strategies(server, picture):
    _, url = server
    client = Client(url, verbose=False)
    sweep = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/sweep"]["parameters"]
    assert sweep[-1]["parameter_default"] == ["random"]  # older callers need not send it
    _, table, csv_path, _ = client.predict(
        handle_file(picture), [], *NAMES, 0.5, 0.5, 0.1, 1, 0, "loss", False, ["random", "block"], api_name="/sweep"
    )
    rows = pd.read_csv(csv_path)
    assert sorted(rows["mask"]) == ["block", "block", "random", "random"]
    assert set(table_frame(table)["mask"]) == {"random", "block"}
    with pytest.raises(AppError, match="custom"):
        client.predict(
            handle_file(picture), [], *NAMES, 0.5, 0.5, 0.1, 1, 0, "loss", False, ["custom"], api_name="/sweep"
        )


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.png"
    text.write_text("not a picture at all")
    truncated = folder / "cut.jpg"
    buffer = folder / "whole.jpg"
    make_image(64, 64).save(buffer, "JPEG")
    truncated.write_bytes(buffer.read_bytes()[:300])
    # 1-bit PNGs: a few KB on disk, but their headers claim huge pixel counts
    huge = folder / "huge.png"
    Image.new("1", (9000, 9000)).save(huge)  # 81 M pixels: over the app's 64 M limit
    bomb = folder / "bomb.png"
    Image.new("1", (20000, 10000)).save(bomb)  # 200 M pixels: Pillow itself calls it a decompression bomb
    return {"text": str(text), "truncated": str(truncated), "huge": str(huge), "bomb": str(bomb)}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not an image"),
        ("truncated", "truncated or corrupt"),
        ("huge", "over the limit"),
        ("bomb", "decompression bomb"),
    ],
)
def test_bad_files_get_a_readable_message(server, bad_files, kind, message):
    _, url = server
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(bad_files[kind]), *NAMES, 0.5, 0, False, api_name="/compare")


def swept_photos(client: Client, folder: Path, *, image_seed: int, num_seeds: int, first_seed: int) -> pd.DataFrame:
    """Two photos swept through /sweep with both checkpoints at ratios 0.25, 0.5, 0.75; the run's rows."""
    photos = []
    for i in range(2):
        photos.append(folder / f"photo{i}.png")
        make_image(56, 48, seed=image_seed + i).save(photos[-1])
    seeds = (num_seeds, first_seed)
    *_, csv_path, _ = client.predict(
        None, [handle_file(p) for p in photos], *NAMES, 0.25, 0.75, 0.25, *seeds, "loss", False, api_name="/sweep"
    )
    return pd.read_csv(csv_path)


def test_replay_gives_both_checkpoints_panels_and_the_csv_metrics(server, tmp_path):
    app, url = server
    client = Client(url, verbose=False)
    rows = swept_photos(client, tmp_path, image_seed=20, num_seeds=2, first_seed=3)
    run_id, image = rows["run_id"].iloc[0], rows["image"].iloc[-1]
    result = client.predict(run_id, image, 0.5, 4, "random", api_name="/replay")
    panels, table, note = result[:10], table_frame(result[10]), result[11]
    for index, path in enumerate(panels):
        with Image.open(path) as img:  # the model's size; the heatmap (4, 9) enlarged beside its colour bar
            assert img.format == "PNG" and img.size == ((32, 32) if index % 5 != 4 else (224 + SCALE_WIDTH, 224))
    stored = rows[(rows["image"] == image) & (rows["mask_ratio"] == 0.5) & (rows["seed"] == 4)]
    assert list(table["checkpoint"]) == list(NAMES) and len(stored) == 2
    for checkpoint in NAMES:
        got = table[table["checkpoint"] == checkpoint].iloc[0]
        want = stored[stored["checkpoint"] == checkpoint].iloc[0]
        assert got["masked_patches"] == want["masked_patches"]
        carried = [m for m in METRIC_NAMES if pd.notna(want[m])]  # every metric the run computed
        assert {"loss", "mse", "psnr", "ssim", "detail", "visible_loss"} <= set(carried)
        for metric in carried:  # shown to 4 significant digits: equal to that precision
            assert float(got[metric]) == pytest.approx(float(want[metric]), rel=6e-4, abs=1e-9), (checkpoint, metric)
    assert_four_digits(table)
    assert run_id in note
    with pytest.raises(AppError, match="its seeds: 3, 4"):
        client.predict(run_id, image, 0.5, 99, "random", api_name="/replay")


def test_breakdown_gives_an_images_breakdown_ratios_and_refuses_a_bad_threshold_in_one_line(server, tmp_path):
    app, url = server
    client = Client(url, verbose=False)
    rows = swept_photos(client, tmp_path, image_seed=40, num_seeds=3, first_seed=0)
    run_id, image = rows["run_id"].iloc[0], "photo1.png"
    table, note = client.predict([run_id], image, "loss>1", api_name="/breakdown")
    got = table_frame(table)
    assert list(got.columns) == ["checkpoint", "mask", "breakdown_ratio", "ci_low", "ci_high", "n_seeds"]
    assert list(got["checkpoint"]) == [*NAMES, "b - a (tiny-b - tiny-a)"] and (got["n_seeds"] == 3).all()
    want, _ = app.drill.breakdown([run_id], image, "loss>1")  # the handler the page calls, on the same rows
    assert got["breakdown_ratio"].tolist() == want["breakdown_ratio"].tolist()
    assert f"Breakdown ratio (`loss>1`) of `{image}`" in note
    assert table_frame(client.predict(run_id, image, "loss>1", api_name="/breakdown")[0]).equals(got)  # one string
    with pytest.raises(AppError, match="write METRIC<VALUE or METRIC>VALUE, e.g. psnr<20 or lpips>0.4") as raised:
        client.predict([run_id], image, "loss=1", api_name="/breakdown")
    assert "\n" not in str(raised.value)
    with pytest.raises(AppError, match="hold no image 'nothing.png'"):
        client.predict([run_id], "nothing.png", "loss>1", api_name="/breakdown")


def test_a_transparent_png_is_measured_as_the_library_composites_it(server, tmp_path):
    """An RGBA PNG whose fully transparent pixels hide other colours: the app and its API give the numbers of
    ``mae_core.evaluation.reconstruct`` on the same file (composited over white), not of the hidden colours."""
    app, url = server
    rgba = np.asarray(make_image(48, 40, seed=11).convert("RGBA")).copy()
    rgba[:, 20:, 3] = 0  # the right half transparent, its colours still in the file
    path = tmp_path / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(path)
    with Image.open(path) as check:
        assert check.mode == "RGBA"
    models = [app.model(name) for name in NAMES]
    library = [reconstruct(model, load_image(path), 0.5, 4).metrics.loss for model in models]
    hidden = [reconstruct(model, Image.fromarray(rgba[..., :3]), 0.5, 4).metrics.loss for model in models]
    assert all(abs(a - b) > 1e-3 for a, b in zip(library, hidden))  # the hidden colours would show
    result = Client(url, verbose=False).predict(handle_file(str(path)), *NAMES, 0.5, 4, False, api_name="/compare")
    assert list(table_frame(result[10])["loss"]) == pytest.approx(library, rel=1e-3)
    with Image.open(result[0]) as original:  # the original panel: white where the file is transparent
        assert (np.asarray(original)[:, -4:] == 255).all()


def test_on_a_space_upload_runs_are_private_to_their_page_and_example_runs_public(tmp_path, monkeypatch):
    """Simulated Space (``SPACE_ID`` set): a visitor's sweep of an upload is seen and replayed only by that visitor's
    session; another visitor gets the answer for a run that does not exist. A sweep of an example photo is public.
    Notes and files carry no server path and no command line."""
    monkeypatch.setenv("SPACE_ID", "someone/mae-inspect")
    upload = tmp_path / "private.png"
    make_image(48, 40, seed=31).save(upload)
    example = sorted(Path(EXAMPLES_DIR).glob("*.jpg"))[0]
    app = make_app(tmp_path / "runs", save_tiny_checkpoints(tmp_path))
    with serve(app) as (_, url):
        alice, bob = Client(url, verbose=False), Client(url, verbose=False)
        sweep = (*NAMES, 0.5, 0.5, 0.1, 1, 0, "loss", False)
        _, _, csv_path, note = alice.predict(None, [handle_file(upload)], *sweep, api_name="/sweep")
        private_run = pd.read_csv(csv_path)["run_id"].iloc[0]
        assert "python -m" not in note and str(tmp_path) not in note and "/tmp/" not in note
        assert str(app.run_root) not in csv_path  # a copy: the run store itself is not served on a Space
        assert alice.predict(private_run, "private.png", 0.5, 0, "random", api_name="/replay")[0]
        with pytest.raises(AppError, match=f"No run {private_run} here"):
            bob.predict(private_run, "private.png", 0.5, 0, "random", api_name="/replay")
        with pytest.raises(AppError, match=f"No run {private_run} here"):
            bob.predict([private_run], "private.png", "psnr<20", api_name="/breakdown")
        single = table_frame(alice.predict([private_run], "private.png", "psnr<20", api_name="/breakdown")[0])
        assert list(single.columns)[0].startswith("No breakdown: a breakdown needs at least 2 mask ratios")
        *_, csv_path, _ = bob.predict(None, [handle_file(example)], *sweep, api_name="/sweep")
        public_run = pd.read_csv(csv_path)["run_id"].iloc[0]
        assert alice.predict(public_run, example.name, 0.5, 0, "random", api_name="/replay")[0]

        def listed(client: Client) -> list[str]:
            return app.list_runs(SimpleNamespace(session_hash=client.session_hash))[1]["choices"]

        assert sorted(listed(alice)) == sorted([private_run, public_run]) and listed(bob) == [public_run]
        with pytest.raises(gr.Error, match="No run"):
            app.show_runs([private_run], "loss", SimpleNamespace(session_hash=bob.session_hash))
        monkeypatch.delenv("SPACE_ID")  # locally nothing is private
        assert sorted(listed(bob)) == sorted([private_run, public_run])


def test_a_checkpoint_that_cannot_be_had_is_refused_at_once_in_one_line(tmp_path, isolated_caches, picture):
    with serve(default_app(run_root=tmp_path / "runs")) as (_, url):
        client = Client(url, verbose=False)
        started = time.monotonic()
        with pytest.raises(AppError) as raised:
            client.predict(handle_file(picture), "vit-large-pixel", "tiny-gan", api_name="/compare")
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "vit-large-pixel is not on this server and cannot be downloaded now (downloads are off)" in message
    assert "\n" not in message.strip() and "/" not in message


def test_view_api_names_every_output_and_lists_the_sweeps_images_as_optional(server):
    _, url = server
    endpoints = Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/compare", "/replay", "/sweep"):
        labels = [r["label"] for r in endpoints[name]["returns"]]
        assert all(labels) and len(set(labels)) == len(labels), (name, labels)  # readable, and distinct
    compare = [r["label"] for r in endpoints["/compare"]["returns"]]
    assert compare[0] == "original (top)" and compare[5] == "original (bottom)" and compare[-1] == "note"
    sweep = {p["parameter_name"]: p for p in endpoints["/sweep"]["parameters"]}
    assert sweep["image"]["parameter_has_default"] and sweep["batch"]["parameter_has_default"]
    assert sweep["image"]["parameter_default"] is None and sweep["batch"]["parameter_default"] is None


def test_a_sweep_of_only_a_batch_needs_no_image_argument(server, tmp_path):
    _, url = server
    photo = tmp_path / "only.png"
    make_image(40, 40, seed=9).save(photo)
    _, table, csv_path, _ = Client(url, verbose=False).predict(
        batch=[handle_file(photo)], ratio_min=0.5, ratio_max=0.5, num_seeds=1, api_name="/sweep"
    )
    assert set(pd.read_csv(csv_path)["image"]) == {"only.png"}


def test_a_huge_seed_is_refused_naming_the_accepted_range(server, picture):
    _, url = server
    with pytest.raises(AppError, match="the seed must be a whole number from 0 to 9223372036854775807, got"):
        Client(url, verbose=False).predict(handle_file(picture), *NAMES, 0.5, 1e20, False, api_name="/compare")


def test_a_norm_pix_checkpoint_is_de_normalised_honestly_or_by_the_oracle(tmp_path, picture):
    """A norm-pix checkpoint beside a pixel one: ``denorm`` chooses how its prediction is put back into pixels
    (the library's numbers for each mode), the note gives both modes' removed-patch MSE, the pixel row ignores it,
    an unknown mode is named, and a link refuses the oracle (links reproduce the honest view)."""
    from mae_core.checkpoints.checkpoint_files import save_checkpoint
    from mae_core.checkpoints.loading import load_model
    from mae_core.modeling.model import MAEConfig
    from tests.conftest import TINY_CONFIG, make_model

    norm_pix = MAEConfig(**{**TINY_CONFIG.to_dict(), "norm_pix_loss": True})
    files = {
        "tiny-a": save_tiny_checkpoints(tmp_path)["tiny-a"],
        "tiny-normpix": save_checkpoint(
            make_model(norm_pix, seed=5), tmp_path / "normpix.safetensors", loss_type="pixel"
        ),
    }
    app = make_app(tmp_path / "runs", files)
    with serve(app) as (_, url):
        client = Client(url, verbose=False)
        controls = (handle_file(picture), "tiny-a", "tiny-normpix", 0.5, 3, False, "random", "", False)
        honest = client.predict(*controls, "honest", api_name="/compare")
        oracle = client.predict(*controls, "oracle", api_name="/compare")
        with pytest.raises(AppError, match=r"'median'.*not in the list of choices: \['honest', 'oracle'\]"):
            client.predict(*controls, "median", api_name="/compare")
    model = load_model(files["tiny-normpix"])
    for result, mode in ((honest, "honest"), (oracle, "oracle")):
        library = reconstruct(model, load_image(picture), 0.5, 3, denorm=mode)
        assert table_frame(result[10])["mse"].iloc[1] == pytest.approx(float(f"{library.metrics.mse:.4g}"))
        gap = library.norm_pix_gap
        assert f"honest {gap.honest_mse:.4g}, oracle {gap.oracle_mse:.4g}" in result[11]
    assert "de-normalised honestly" in honest[11] and "leaks the answer" in oracle[11]
    assert table_frame(honest[10]).iloc[0].equals(table_frame(oracle[10]).iloc[0])  # the pixel row: unchanged
    with Image.open(honest[7]) as a, Image.open(oracle[7]) as b:  # the norm-pix row's reconstruction differs
        assert not np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(gr.Error, match="choose honest to share"):
        app.compare_link(picture, "tiny-a", "tiny-normpix", 0.5, 3, False, "random", "", False, "oracle")
    assert app.compare_link(picture, "tiny-a", "tiny-normpix", 0.5, 3, False, "random", "", False, "honest")
