"""The studios file: each studio's weight, limits, retention and webhook, and the errors that name a bad field."""

from __future__ import annotations

import pytest

from farm.queue.studios import StudioConfigError, StudioPolicy, load_policies

GOOD = """
[defaults]
max_queued = 50
quota_mb = 10
retention_days = 7

[studios.abbey]
weight = 2
max_running = 4
retention_days = 0
webhook_url = "https://hooks.abbey.example/mixfarm"
webhook_secret = "a-long-random-secret"

[studios.small]
max_queued = 0
"""


def test_a_studios_file_gives_each_studio_its_policy_over_the_defaults(tmp_path):
    path = tmp_path / "studios.toml"
    path.write_text(GOOD)
    policies = load_policies(path, StudioPolicy(max_queued=1000))
    abbey = policies("abbey")
    assert (abbey.weight, abbey.max_running, abbey.max_queued, abbey.quota_bytes, abbey.retention_s) == (2.0, 4, 50, 10 * 1024**2, None)
    assert abbey.webhook_url == "https://hooks.abbey.example/mixfarm"
    assert policies("small").max_queued is None and policies("small").retention_s == 7 * 86400
    anyone = policies("anyone")
    assert (anyone.weight, anyone.max_running, anyone.max_queued, anyone.webhook_url) == (1.0, None, 50, None)
    assert policies.webhook_studios == {"abbey"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[studios.a]\nweight = 0", "studios.a.weight: must be a number > 0 and <= 1e6, got 0"),
        ("[studios.a]\nmax_running = 1.5", "studios.a.max_running: must be a whole number >= 0 (0: no limit), got 1.5"),
        ("[studios.a]\nmax_queued = -1", "studios.a.max_queued: must be a whole number >= 0 (0: no limit), got -1"),
        ("[studios.a]\nquota_mb = true", "studios.a.quota_mb: must be a number >= 0, in MiB (0: no quota), got True"),
        ("[studios.a]\nspeed = 2", "studios.a: unknown field(s) speed (allowed: weight, max_running"),
        ("[studios.a]\nwebhook_url = \"ftp://x\"\nwebhook_secret = \"0123456789abcdef\"", "studios.a.webhook_url: must be an http:// or https:// URL, got 'ftp://x'"),
        ("[studios.a]\nwebhook_url = \"https://x\"", "studios.a: webhook_url needs a webhook_secret to sign its calls with"),
        ("[studios.a]\nwebhook_url = \"https://x\"\nwebhook_secret = \"short\"", "studios.a.webhook_secret: must be a string of at least 16 characters, got 5 characters"),
        ("[defaults]\nwebhook_url = \"https://x\"\nwebhook_secret = \"0123456789abcdef\"", "defaults.webhook_url: a webhook belongs to one studio"),
        ("[limits]\nx = 1", "unknown table(s) limits (allowed: defaults, studios)"),
        ("[studios\n", "not valid TOML"),
    ],
)
def test_a_bad_studios_file_names_the_field_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "studios.toml"
    path.write_text(text)
    with pytest.raises(StudioConfigError) as caught:
        load_policies(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
