"""Start-up: server options from the environment, no analytics, the named endpoints, a Space's prefetch."""

from __future__ import annotations

from mae_app import build_demo, launch_options, start_space_prefetch
from mae_app.handlers import EXAMPLES_DIR
from mae_app.launch import MAX_UPLOAD_BYTES


def test_launch_options_read_host_and_port_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.setenv("MAE_RUNS_DIR", str(tmp_path / "store"))
    options = launch_options()
    assert (options["server_name"], options["server_port"]) == ("127.0.0.1", 7860)
    assert options["max_file_size"] == MAX_UPLOAD_BYTES
    assert options["allowed_paths"] == [str((tmp_path / "store").resolve()), str(EXAMPLES_DIR)]
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    assert (launch_options()["server_name"], launch_options()["server_port"]) == ("0.0.0.0", 8123)
    monkeypatch.setenv("SPACE_ID", "someone/mae")  # a Space's visitors' runs are private: the store is not served
    assert launch_options()["allowed_paths"] == [str(EXAMPLES_DIR)]


def test_the_built_app_sends_no_analytics(tiny_app):
    # mae_app/__init__.py sets GRADIO_ANALYTICS_ENABLED=False before importing gradio (unless the user set it)
    demo = build_demo(tiny_app)
    assert demo.analytics_enabled is False
    names = {d["api_name"] for d in demo.config["dependencies"] if d.get("api_visibility") == "public"}
    assert names == {"compare", "sweep", "replay", "attention", "uncertainty", "difference", "breakdown"}


def test_space_prefetch_runs_only_on_a_space_and_shows_a_note(tiny_app, monkeypatch):
    fetched = []
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert start_space_prefetch(tiny_app, fetched.append) is None
    monkeypatch.setenv("SPACE_ID", "someone/mae-inspect")
    prefetch = start_space_prefetch(tiny_app, fetched.append)
    prefetch.thread.join(10)
    assert fetched == ["vit-large-gan"]
    assert "vit-large-gan is cached" in tiny_app.on_load().note


def test_the_run_store_is_restored_from_and_mirrored_to_a_hub_dataset(tiny_app, tiny_checkpoints, tmp_path,
                                                                      monkeypatch, image_file):  # fmt: skip
    """A Space after a restart: its store is empty, the mirror holds an earlier run. Through huggingface_hub's own
    client against a Hub on 127.0.0.1 (tests/fake_hub.py)."""
    from huggingface_hub import HfApi

    from experiments.config import SweepConfig
    from experiments.store import RunStore
    from experiments.sweep import run_sweep
    from mae_app import start_store_mirror
    from tests.experiments.helpers import make_rows
    from tests.fake_hub import serve

    earlier = RunStore(tmp_path / "before-restart").create(None, run_id="20250101-000000-abcdef")
    earlier.append_rows(make_rows(earlier.run_id, ["a.png", "b.png"]))
    files = {f"{earlier.run_id}/{p.name}": p.read_bytes() for p in earlier.path.iterdir() if not p.name.startswith(".")}
    monkeypatch.delenv("MAE_RUNS_REPO", raising=False)
    assert start_store_mirror(tiny_app) is None and tiny_app.notes == []  # without the variable: nothing
    with serve() as hub:
        hub.add_repo("dataset", "me/space-runs", files, private=True)
        monkeypatch.setenv("MAE_RUNS_REPO", "me/space-runs")
        mirror = start_store_mirror(tiny_app, api=HfApi(endpoint=hub.url, token="hf_space_secret"))
        try:
            runs, _ = tiny_app.list_runs()
            assert list(runs["run_id"]) == [earlier.run_id]  # restored before the first page lists the runs
            assert "mirrored to the Hub dataset me/space-runs" in tiny_app.on_load().note
            config = SweepConfig(images=(image_file,), checkpoints=tuple(str(p) for p in tiny_checkpoints.values()),
                                 device="cpu")  # fmt: skip
            new = run_sweep(config, root=tiny_app.run_root)
            mirror.push_now()
            remote = hub.files("dataset", "me/space-runs")
            assert remote[f"{new.run_id}/losses.csv"] == (tiny_app.run_root / new.run_id / "losses.csv").read_bytes()
            assert f"{earlier.run_id}/losses.csv" in remote
        finally:
            mirror.scheduler.stop()


def test_a_user_error_is_one_line_in_the_server_log_not_a_traceback(tmp_path):
    """``python app.py`` as a Space runs it; a bad seed and a text file named .png sent through the API are refused
    to the caller and logged as one line each."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pytest
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from tests.conftest import make_image
    from tests.mae_app.helpers import free_port, wait_until_up

    picture, text = tmp_path / "picture.png", tmp_path / "notes.png"
    make_image(48, 40).save(picture)
    text.write_text("not a picture at all")
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_PORT": str(port),
        "MAE_RUNS_DIR": str(tmp_path / "runs"),
        "MAE_OFFLINE": "1",  # the bundled tiny pair, whatever this machine has cached
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "torch"),
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
    }
    env.pop("SPACE_ID", None)
    log = tmp_path / "server.log"
    root = Path(__file__).resolve().parents[2]
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "app.py"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_up(url, timeout=120)
            client = Client(url, verbose=False)
            with pytest.raises(AppError, match="the seed must be a whole number from 0 to"):
                client.predict(handle_file(str(picture)), "tiny-pixel", "tiny-gan", 0.5, -1, api_name="/compare")
            with pytest.raises(AppError, match="not an image"):
                client.predict(handle_file(str(text)), api_name="/compare")
        finally:
            server.terminate()
            server.wait(30)
    lines = log.read_text().splitlines()
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines)
    refused = [line for line in lines if "refused" in line]
    assert len(refused) == 2, "\n".join(lines)
    assert "the seed must be a whole number from 0 to" in refused[0] and "not an image" in refused[1]
