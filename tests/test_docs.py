"""README and docs/ as a newcomer reads them: the two commands first, links that lead somewhere, examples that work."""

import re
import subprocess
import sys

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


def test_the_end_of_life_sdk_keeps_its_example_and_says_why():
    """google-generativeai's support has ended: the README says so, and why its example stays."""
    quick = README.split("## Quick start", 1)[1]
    assert "import google.generativeai as genai" in quick
    note = " ".join(quick[quick.index("google-generativeai is end-of-life") :].split("\n\n", 1)[0].split())
    assert "FutureWarning" in note and "tutorial" in note and "google-genai" in note


def test_the_end_of_life_warning_the_readme_quotes_is_real():
    imported = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import google.generativeai"], capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert "FutureWarning" in imported.stderr and "support for the `google.generativeai` package has ended" in (
        " ".join(imported.stderr.split())
    )
