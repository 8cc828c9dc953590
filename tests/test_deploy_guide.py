"""The deploy guide's steps (docs/deploy.md), checked as the shell and a fresh Debian 12 would take them."""

import re
import subprocess

from tests.conftest import ROOT


def deploy_steps() -> str:
    """The shell block of the deploy guide (docs/deploy.md)."""
    section = (ROOT / "docs" / "deploy.md").read_text()
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_steps_are_valid_bash():
    result = subprocess.run(["bash", "-n"], input=deploy_steps(), capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr


def test_the_steps_only_use_files_the_repository_ships():
    paths = re.findall(r"/opt/gemini-gateway/([\w./-]+)", deploy_steps())
    used = {path for path in paths if path.split("/")[0] != ".venv"}  # the virtualenv is made by step 2
    assert len(used) >= 3 and all((ROOT / path).is_file() for path in used), sorted(used)


def test_a_fresh_debian_gets_its_package_lists_then_every_tool_the_steps_call():
    lines = deploy_steps().splitlines()
    install = next(i for i, line in enumerate(lines) if line.startswith("apt-get install"))
    assert "apt-get update" in lines[:install]
    packages = set(lines[install].split())
    assert {"git", "python3-venv", "nginx", "certbot", "sudo", "curl", "ca-certificates"} <= packages
