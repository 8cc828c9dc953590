"""README and docs/ as a newcomer reads them: the two commands first, links that lead somewhere, examples that work."""

import re

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
PAGES = sorted((ROOT / "docs").glob("*.md"))


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.S)


def test_readme_opens_with_the_two_commands():
    run, test = code_blocks(README)[:2]
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert run.strip() == venv + "pip install . && gunicorn -c gunicorn.conf.py"
    assert test.strip() == venv + "pip install '.[test]' && python -m pytest"
    assert README.index(run) < README.index("## Quick start")


def test_readme_stays_short_and_links_every_page():
    assert len(README.splitlines()) < 150, "the reference belongs in docs/"
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", README))
    assert linked == {page.name for page in PAGES}


@pytest.mark.parametrize("page", [ROOT / "README.md", *PAGES], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" not in target:
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_quick_start_calls_carry_the_key():
    quick = README.split("## Quick start", 1)[1].replace("\\\n", " ")  # continuation lines joined
    calls = [call for call in re.findall(r"curl [^\n]*", quick) if "/v1beta" in call]
    assert len(calls) >= 3 and all("x-goog-api-key" in call for call in calls), calls


def test_certbot_runs_without_asking():
    (command,) = [line for line in (ROOT / "docs" / "deploy.md").read_text().splitlines() if "certbot certonly" in line]
    assert {"-n", "--agree-tos", "-m"} <= set(command.split())
