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


def test_the_built_app_sends_no_analytics(tiny_app):
    # mae_app/__init__.py sets GRADIO_ANALYTICS_ENABLED=False before importing gradio (unless the user set it)
    demo = build_demo(tiny_app)
    assert demo.analytics_enabled is False
    names = {d["api_name"] for d in demo.config["dependencies"] if d.get("api_visibility") == "public"}
    assert names == {"compare", "sweep"}


def test_space_prefetch_runs_only_on_a_space_and_shows_a_note(tiny_app, monkeypatch):
    fetched = []
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert start_space_prefetch(tiny_app, fetched.append) is None
    monkeypatch.setenv("SPACE_ID", "someone/mae-inspect")
    prefetch = start_space_prefetch(tiny_app, fetched.append)
    prefetch.thread.join(10)
    assert fetched == ["vit-large-gan"]
    assert "vit-large-gan is cached" in tiny_app.on_load().note
