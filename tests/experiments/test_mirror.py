"""The store mirror: restore at start-up and scheduled commits, through huggingface_hub's own client
(``HfApi``, ``CommitScheduler``, ``snapshot_download``) against a Hub on 127.0.0.1 (tests/fake_hub.py)."""

from __future__ import annotations

import pytest

from experiments.mirror import MirrorConfig, start_mirror
from experiments.store import load_runs
from tests.experiments.helpers import make_rows
from tests.fake_hub import serve

REPO = "org/mae-runs"


@pytest.fixture
def hub():
    with serve() as fake:
        yield fake


def _api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.url, token="hf_test_token")


def _store_files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def test_the_store_is_committed_then_restored_into_an_empty_store(swept_run, hub, tmp_path):
    root, run_id = swept_run
    from pathlib import Path

    root = Path(root)
    mirror = start_mirror(root, {"MAE_RUNS_REPO": REPO, "MAE_RUNS_REPO_EVERY": "60"}, api=_api(hub))
    try:
        mirror.push_now()
        remote = hub.files("dataset", REPO)
        assert remote == _store_files(root) and f"{run_id}/losses.csv" in remote
        assert not [p for p in remote if "/." in f"/{p}"]  # no lock or temporary files
        assert hub.repos[("dataset", REPO)].private  # created private
        assert "Bearer hf_test_token" in hub.authorizations

        # rows appended later reach the mirror at the next commit
        from experiments.store import RunStore

        RunStore(root).open(run_id).append_rows(make_rows(run_id, ["extra.png"], seeds=(0,)))
        mirror.push_now()
        assert hub.files("dataset", REPO)[f"{run_id}/losses.csv"] == (root / run_id / "losses.csv").read_bytes()
        assert "mirrored to the Hub dataset org/mae-runs every 60 min" in mirror.note()
    finally:
        mirror.scheduler.stop()

    fresh = tmp_path / "restarted"  # a Space after a restart: an empty disk
    again = start_mirror(fresh, {"MAE_RUNS_REPO": REPO}, api=_api(hub))
    try:
        assert _store_files(fresh) == _store_files(root)
        assert sorted(again.restored.copied) == sorted(_store_files(root))
        restored = load_runs(run_id, root=fresh)
        assert len(restored) == 25 and "extra.png" in set(restored["image"])
    finally:
        again.scheduler.stop()


def test_files_the_store_already_has_are_kept(hub, tmp_path):
    hub.add_repo("dataset", REPO, {"run-a/manifest.json": b'{"run_id": "run-a", "old": true}', "run-b/x.txt": b"b"})
    (tmp_path / "store" / "run-a").mkdir(parents=True)
    (tmp_path / "store" / "run-a" / "manifest.json").write_text('{"run_id": "run-a"}')
    mirror = start_mirror(tmp_path / "store", {"MAE_RUNS_REPO": REPO}, api=_api(hub))
    try:
        assert mirror.restored.kept == ("run-a/manifest.json",) and mirror.restored.copied == ("run-b/x.txt",)
        assert (tmp_path / "store" / "run-a" / "manifest.json").read_text() == '{"run_id": "run-a"}'
    finally:
        mirror.scheduler.stop()


def test_without_the_variable_nothing_happens(hub, tmp_path):
    assert start_mirror(tmp_path / "store", {}, api=_api(hub)) is None
    assert hub.requests == [] and not (tmp_path / "store").exists()
    assert MirrorConfig.from_env({"MAE_RUNS_REPO": "  "}) is None


def test_bad_settings_and_an_unreachable_hub(tmp_path):
    with pytest.raises(ValueError, match="expected a Hub dataset id"):
        MirrorConfig.from_env({"MAE_RUNS_REPO": "not a repo!"})
    with pytest.raises(ValueError, match="positive number of minutes"):
        MirrorConfig.from_env({"MAE_RUNS_REPO": REPO, "MAE_RUNS_REPO_EVERY": "0"})
    from huggingface_hub import HfApi

    closed = HfApi(endpoint="http://127.0.0.1:9", token="hf_x")  # nothing listens on the discard port
    mirror = start_mirror(tmp_path / "store", {"MAE_RUNS_REPO": REPO}, api=closed)
    assert mirror.scheduler is None and "NOT mirrored to org/mae-runs" in mirror.note()
