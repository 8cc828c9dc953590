"""Model lists kept current (accounts/model_lists.py): every GATEWAY_MODELS_REFRESH seconds by one worker of one
host, and after a 404 for a listed model at most once a minute per account; new models serve with no CLI step."""

import logging

import pytest
import redis

from gateway.config import Settings, SettingsError
from gateway.services import Services
from tests.conftest import HELLO, add_account, gateway_env, wait_for
from tests.fake_upstream import MODELS, Reply, google_error

NEW = "gemini-4-argon-high"


class Worker:
    """One worker's Services on a shared data dir, its clock a number the test moves."""

    def __init__(self, upstream, data_dir, now: list[float], **settings: str) -> None:
        env = gateway_env(upstream, data_dir, GATEWAY_MODELS_REFRESH="600", **settings)
        self.services = Services(Settings.from_env(env), clock=lambda: now[0])

    @property
    def lists(self):
        return self.services.model_lists

    def models(self, email: str) -> dict:
        return self.services.records.find(email).models


def fetches(upstream) -> int:
    return len(upstream.calls_to("fetchAvailableModels"))


@pytest.fixture
def two_workers(upstream, tmp_path):
    now = [1_000_000.0]
    upstream.add_account("rt-a", "a@example.com", models=(*MODELS, NEW))
    first, second = Worker(upstream, tmp_path, now), Worker(upstream, tmp_path, now)
    first.services.records.upsert("a@example.com", "rt-a", project="proj-1", tier="free-tier")
    return first, second, now


def test_one_worker_of_the_two_re_reads_the_lists_each_round(two_workers, upstream):
    first, second, now = two_workers
    first.lists.refresh_all()
    second.lists.refresh_all()
    assert fetches(upstream) == 1 and NEW in second.models("a@example.com")
    now[0] += 600  # the next round: whichever worker comes first takes it
    second.lists.refresh_all()
    first.lists.refresh_all()
    assert fetches(upstream) == 2


def test_hosts_on_one_redis_share_the_round(upstream, tmp_path, redis_server):
    now = [1_000_000.0]
    redis.Redis.from_url(redis_server.url).flushdb()  # no lease left by an earlier run
    upstream.add_account("rt-a", "a@example.com")
    url = {"GATEWAY_STATE_URL": redis_server.url}
    hosts = [Worker(upstream, tmp_path / name, now, **url) for name in ("a", "b")]
    for host in hosts:
        host.services.records.upsert("a@example.com", "rt-a", project="proj-1", tier="free-tier")
    for host in hosts:
        host.lists.refresh_all()
    assert fetches(upstream) == 1


def test_a_404_for_a_listed_model_re_reads_that_list_once_a_minute(two_workers, upstream):
    first, second, now = two_workers
    account = first.services.records.find("a@example.com")
    first.services.records.update(account.id, models={"gemini-3-pro-high": {}})
    account = first.services.records.find("a@example.com")
    for worker in (first, second, first):
        worker.lists.after_not_found(account, "gemini-3-pro-high")
    wait_for(lambda: NEW in first.models("a@example.com"))
    assert fetches(upstream) == 1
    first.lists.after_not_found(account, "gemini-2.5-flash-lite")  # not in its list: not the list's fault
    now[0] += 61
    first.lists.after_not_found(account, "gemini-3-pro-high")
    wait_for(lambda: fetches(upstream) == 2)


def test_a_failed_re_read_keeps_the_old_list_and_says_so_in_one_line(two_workers, upstream, caplog):
    first, _, _ = two_workers
    account = first.services.records.find("a@example.com")
    first.services.records.update(account.id, models={"gemini-2.5-pro": {}})
    upstream.script("fetchAvailableModels", Reply(500, google_error(500, "Internal error.", "INTERNAL")))
    with caplog.at_level(logging.WARNING, logger="gateway.accounts.model_lists"):
        first.lists.refresh_all()
    assert first.models("a@example.com") == {"gemini-2.5-pro": {}}
    [line] = [r.getMessage() for r in caplog.records if r.name == "gateway.accounts.model_lists"]
    assert f"account {account.id} was not re-read" in line and "keeps the last one" in line


def test_refresh_is_seconds_and_zero_means_never(tmp_path):
    assert Settings.from_env({}).models_refresh == 10800
    assert Settings.from_env({"GATEWAY_MODELS_REFRESH": "0"}).models_refresh == 0
    with pytest.raises(SettingsError, match="GATEWAY_MODELS_REFRESH must be a whole number of seconds"):
        Settings.from_env({"GATEWAY_MODELS_REFRESH": "3h"})


def test_a_model_added_upstream_serves_with_no_cli_step(own_gateway, upstream):
    gateway = own_gateway("refreshing", GATEWAY_MODELS_REFRESH="1")
    account_id = add_account(gateway, upstream, "alice@example.com", models=MODELS)
    gateway.store.update(account_id, models={model: {} for model in MODELS})
    path = f"/v1beta/models/{NEW}:generateContent"
    assert gateway.post(path, HELLO).status_code == 404
    upstream.accounts["rt-alice@example.com"].models = (*MODELS, NEW)  # Google starts serving it
    answer = wait_for(lambda: (a := gateway.post(path, HELLO)).status_code == 200 and a, seconds=20)
    assert answer.json()["candidates"]
