"""The GitHub workflow users copy: linted, keyless, and deploying through deploy.sh."""

import subprocess

import yaml

from support import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "test-and-deploy.yml"


def test_actionlint_is_clean():
    result = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploys_with_workload_identity_federation_and_no_keys():
    text = WORKFLOW.read_text()
    assert "credentials_json" not in text and "GOOGLE_APPLICATION_CREDENTIALS" not in text
    deploy = yaml.safe_load(text)["jobs"]["deploy"]
    assert deploy["needs"] == "test" and deploy["permissions"]["id-token"] == "write"
    auth = next(
        step for step in deploy["steps"] if step.get("uses", "").startswith("google-github-actions/auth@")
    )
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    runs = [step["run"] for step in deploy["steps"] if "run" in step]
    assert runs[0] == "./deploy.sh deploy" and "--allow-unauthenticated" not in text


def test_the_test_job_runs_the_readme_command():
    test = yaml.safe_load(WORKFLOW.read_text())["jobs"]["test"]
    assert test["steps"][-1]["run"] == "make test"
    assert (
        "make test" in (ROOT / "README.md").read_text() and "make test" in (ROOT / ".ci" / "run").read_text()
    )
