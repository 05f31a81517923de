"""What the README, the docs/ pages and .gcloudignore promise is what the code does."""

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from support import EXAMPLE, ROOT, in_process

README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_readme_quick_start_answer_is_the_example_models_answer(trained):
    payload = json.loads(re.search(r"-d '(\[\s*\{.*?\}\s*\])'", README, re.DOTALL).group(1))
    answer = json.loads(re.search(r"```json\n(\[[^\]]*\])\n```", README).group(1))
    served = in_process({"MODEL_URI": EXAMPLE}).post(json=payload).json()
    expected = trained.model.predict(pd.DataFrame(payload)[list(trained.train_x.columns)].astype(float))
    assert served == answer == expected.tolist()
    assert json.loads((ROOT / "examples" / "payload.json").read_text()) == payload  # deploy.sh call sends it


def test_readme_error_table_lists_every_error_code():
    from predictor import errors

    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.PredictorError)
        and cls.code not in ("bad_request", "unavailable")
    }
    protocols = (DOCS / "protocols.md").read_text()
    documented = set(re.findall(r"^\| \d{3} \| `(\w+)` \|", protocols, re.MULTILINE))
    assert documented == codes


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_gcloudignore_uploads_only_the_function(tmp_path):
    listed = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(ROOT)],
        capture_output=True,
        text=True,
        check=True,
        env={"CLOUDSDK_CONFIG": str(tmp_path), "PATH": __import__("os").environ["PATH"]},
    ).stdout.split()
    expected = {"main.py", "requirements.txt"} | {
        p.relative_to(ROOT).as_posix()
        for pattern in ("*.py", "*.txt")
        for p in (ROOT / "predictor").rglob(pattern)
    }
    assert set(listed) == expected
    # what the function reads besides main.py: its data file and its subpackage
    assert {"predictor/loading/skops_estimators.txt", "predictor/web/endpoints/predict.py"} <= set(listed)


def test_readme_configuration_table_lists_every_variable_the_code_reads():
    source = "".join(path.read_text() for path in (ROOT / "predictor").rglob("*.py"))
    # os.environ and settings' environ mappings; a request's WSGI environ is not configuration
    read = set(re.findall(r'(?<!request\.)environ(?:\.get)?\(\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'\(\s*environ,\s*"([A-Z][A-Z0-9_]+)"', source))
    read -= {"GCP_PROJECT"}  # an older spelling of GOOGLE_CLOUD_PROJECT, read as a fallback
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (DOCS / "configuration.md").read_text()))
    assert len(read) >= 15 and read <= documented, read - documented


def github_anchor(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def test_readme_contents_list_every_section_in_order():
    text = README
    headings, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        match = None if fenced else re.match(r"^(##|###) (.+)$", line)
        if match and match.group(2) != "Contents":
            headings.append((len(match.group(1)), match.group(2)))
    contents = text.split("## Contents\n", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^( *)- \[(.+)\]\(#([^)]+)\)$", contents, re.MULTILINE)
    assert [(2 + len(indent) // 2, title) for indent, title, _ in listed] == headings
    assert all(anchor == github_anchor(title) for _, title, anchor in listed)


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every heading outside code fences."""
    found, fenced = [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        match = None if fenced else re.match(r"^(#{1,6}) (.+)$", line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in DOCS.glob("*.md"))]
)
def test_every_link_between_the_pages_leads_somewhere(page):
    """Each relative link names a file of the project, and each #anchor a heading of its page."""
    path = ROOT / page
    links = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    assert links
    for link in links:
        if re.match(r"^[a-z]+:", link):
            continue  # https:, mailto:
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{page}: {link}"
        if anchor:
            anchors = {github_anchor(title) for _, title in headings(file.read_text())}
            assert anchor in anchors, f"{page}: {link}"


def test_the_readme_leads_and_the_docs_hold_the_reference():
    assert len(README.splitlines()) <= 300
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", README))
    assert linked == {p.name for p in DOCS.glob("*.md")}  # every page reachable from the README
