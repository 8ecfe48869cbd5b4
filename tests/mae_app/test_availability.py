"""Which checkpoints the dropdowns mark: on disk, downloads on first use, or cannot be had (offline, no host)."""

from __future__ import annotations

from mae_app.availability import CheckpointAvailability


def test_missing_checkpoints_are_marked_by_whether_their_host_answers(isolated_caches, monkeypatch):
    monkeypatch.delenv("MAE_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    asked: list[str] = []

    def probe(host: str) -> bool:
        asked.append(host)
        return host == "huggingface.co"  # the Hub answers, Meta's file server does not

    availability = CheckpointAvailability(probe)
    assert availability.state("tiny-pixel") == "on disk" and availability.state("not-in-registry") == "on disk"
    choices = availability.choices(["tiny-pixel", "vit-large-gan", "vit-large-pixel"])
    assert choices[0] == "tiny-pixel"
    assert choices[1] == ("vit-large-gan (not on this server, cannot download)", "vit-large-gan")  # a URL only
    assert choices[2] == ("vit-large-pixel (downloads on first use)", "vit-large-pixel")  # on the Hub too
    assert availability.refusal("vit-large-pixel") is None
    assert "its download server does not answer" in availability.refusal("vit-large-gan")
    availability.choices(["vit-large-gan", "vit-large-pixel"])
    assert sorted(asked) == sorted(set(asked))  # each host asked once, then remembered


def test_offline_nothing_missing_can_be_had_and_no_host_is_asked(isolated_caches):
    availability = CheckpointAvailability(lambda host: (_ for _ in ()).throw(AssertionError(host)))
    assert availability.state("vit-large-gan") == "unavailable"
    assert availability.refusal("vit-large-gan") == (
        "vit-large-gan is not on this server and cannot be downloaded now (downloads are off): "
        "choose another checkpoint."
    )
