"""What the workflows and actions use and where they run (run by .ci/lint-workflows).

Usage: check-actions.py FILE...   (workflows and action.yml files; exit 1 with one line a problem)

- Every `uses:` of a remote action is pinned to a full commit SHA with its version in a comment,
  `owner/repo[/path]@<40 hex> # vX.Y.Z`; local actions (`./...`) and `docker://` images are exempt.
- No action at a major that runs on Node 20 or older (removed from the runners): the first major on
  Node 24 of each action below, read from each action's action.yml at its release tags.
- No runner label that GitHub has retired, in `runs-on` or anywhere in a job's `strategy.matrix`.
"""
import re
import sys

import yaml

# action -> its first major on Node 24 (or a composite whose steps are all on Node 24).
FIRST_NODE24_MAJOR = {
    "actions/checkout": 5,
    "actions/cache": 5,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
    "actions/attest": 3,
    "actions/attest-build-provenance": 3,
}

RETIRED_RUNNER = re.compile(
    r"^(ubuntu-(1[0-9]|20)\.04(-arm)?"
    r"|macos-(10\.1[0-5]|1[0-3])(-(large|xlarge))?"
    r"|windows-(2016|2019))$"
)

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?:#\s*(?P<comment>.*))?$")
PIN = re.compile(r"^(?P<action>[\w.-]+/[\w.-]+)(?P<path>/[^@]*)?@(?P<sha>[0-9a-f]{40})$")
VERSION_COMMENT = re.compile(r"^v(?P<major>\d+)(\.\d+){0,2}\b")


def check_uses(path, lines, problems):
    for number, line in enumerate(lines, 1):
        m = USES.match(line)
        if not m:
            continue
        ref, comment = m.group("ref").strip("'\""), (m.group("comment") or "").strip()
        where = f"{path}:{number}: {ref}"
        if ref.startswith("./") or ref.startswith("docker://"):
            continue
        pin = PIN.match(ref)
        if not pin:
            problems.append(f"{where}: not pinned to a commit SHA (owner/repo@<40 hex> # vX.Y.Z)")
            continue
        version = VERSION_COMMENT.match(comment)
        if not version:
            problems.append(f"{where}: the SHA pin has no `# vX.Y.Z` comment naming its version")
            continue
        first = FIRST_NODE24_MAJOR.get(pin.group("action"))
        if first is not None and int(version.group("major")) < first:
            problems.append(f"{where} # {comment}: v{version.group('major')} runs on Node 20 or "
                            f"older; use v{first} or later")


def strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def check_runners(path, doc, problems):
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict):
        return
    for name, job in jobs.items():
        if not isinstance(job, dict):
            continue
        labels = list(strings(job.get("runs-on")))
        labels += list(strings((job.get("strategy") or {}).get("matrix")))
        for label in labels:
            if RETIRED_RUNNER.match(label.strip()):
                problems.append(f"{path}: job {name}: runner label {label} is retired")


def main(files):
    problems = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        check_uses(path, text.splitlines(), problems)
        check_runners(path, yaml.safe_load(text), problems)
    for problem in problems:
        print(f"error: {problem}")
    if problems:
        return 1
    print(f"ok: {len(files)} files, every remote action SHA-pinned at a Node 24 major, no retired runner")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
