"""`rustyclaw cron add|list|remove|run|runs` as a user runs them, beside a real `rustyclaw serve`
(llmock answers): `run` asks the running gateway, `runs` and `list` show how it went."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.gateway_process import GatewayProcess, write_config
from tests.fixtures.llm_servers import LLMockServer


def test_cron_add_list_remove_and_run_through_the_running_gateway(mock_llm: LLMockServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.yaml", state, mock_llm.base_url.removesuffix("/v1") + "/v1", "m",
                          cron={"jobs": [{"id": "nightly", "schedule": {"every": "1d"}, "message": "Tidy up."}]})
    gateway = GatewayProcess(config, tmp_path)
    # Refusals name what is wrong: a delivery channel that is not enabled, a job id that exists.
    refused = gateway.cli("cron", "add", "brief", "--every", "1h", "--message", "hi", "--channel", "telegram",
                          "--to", "42")
    assert refused.returncode == 2 and "delivers to channel 'telegram', which is not enabled" in refused.stderr
    clash = gateway.cli("cron", "add", "nightly", "--every", "1h", "--message", "hi")
    assert clash.returncode == 2 and "a cron job 'nightly' exists already" in clash.stderr
    added = gateway.cli("cron", "add", "weekly", "--cron", "0 9 * * 1", "--message", "Plan the week.")
    assert added.returncode == 0, added.stderr
    listed = gateway.cli("cron", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["nightly", "weekly"]
    assert "cron 0 9 * * 1" in listed.stdout and "never run" in listed.stdout
    config_job = gateway.cli("cron", "remove", "nightly")
    assert config_job.returncode == 2 and "remove it there" in config_job.stderr
    assert gateway.cli("cron", "remove", "weekly").returncode == 0
    assert "weekly" not in gateway.cli("cron", "list").stdout

    mock_llm.reply("All tidy.")
    gateway.start()
    try:
        ran = gateway.cli("cron", "run", "nightly", "--url", gateway.url)
        assert ran.returncode == 0, ran.stderr + gateway.log()
        assert ran.stdout.strip() == "nightly: ok"
        unknown = gateway.cli("cron", "run", "ghost", "--url", gateway.url)
        assert unknown.returncode == 2 and "no cron job 'ghost'" in unknown.stderr
    finally:
        gateway.stop()
    runs = gateway.cli("cron", "runs", "nightly")
    assert runs.returncode == 0, runs.stderr
    (line,) = runs.stdout.splitlines()
    assert "\tnightly\tok\t" in line and line.endswith("kept in agent:main:cron:nightly")
    assert "\tlast " in gateway.cli("cron", "list").stdout and " ok" in gateway.cli("cron", "list").stdout
