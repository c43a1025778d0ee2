#!/usr/bin/env python3
"""Summarise Autobahn|Testsuite (wstest 0.8.2) results and gate CI on them.

Usage:  python3 .ci/autobahn-report.py DIR [--agent NAME] [--fail-on VALUE ...]

DIR is a wstest "outdir" (the directory that holds index.json), or an index.json file, or a
directory above several outdirs (every index.json found below it is reported, e.g. reports/servers
and reports/clients). --agent restricts the report to one agent (error if it is absent).

For each agent: a table per case group (first number of the case id: 1.*, 2.*, ... 13.*) with
counts of `behavior` (OK / NON-STRICT / INFORMATIONAL / FAILED / UNIMPLEMENTED / other) and of
`behaviorClose` (OK / INFORMATIONAL / WRONG CODE / UNCLEAN / FAILED BY CLIENT / FAILED / other),
then every case whose behavior or behaviorClose is not OK, with the reason from its case report.

Exit status: 0 = no case FAILED or UNIMPLEMENTED (in behavior or behaviorClose);
             1 = some case FAILED / UNIMPLEMENTED (or a value given with --fail-on, or a value
                 unknown to wstest 0.8.2), or an agent with no cases;
             2 = usage error, no index.json, unreadable JSON, or --agent not found.
NON-STRICT, INFORMATIONAL, WRONG CODE, UNCLEAN and FAILED BY CLIENT are reported but do not fail
the run (add e.g. `--fail-on UNCLEAN --fail-on "WRONG CODE"` to make them fail).

---------------------------------------------------------------------------------------------
Producing the reports (wstest from `WSTEST=$(bash .ci/autobahn-setup.sh)`):

Mode 1, test OUR SERVER: `$WSTEST -m fuzzingclient -s fuzzingclient.json`
  (wstest is the client; exits by itself when done)
    {
      "outdir": "./reports/servers",
      "servers": [ {"agent": "shardnet", "url": "ws://127.0.0.1:9001"} ],
      "cases": ["*"],
      "exclude-cases": ["9.*", "12.*", "13.*"],
      "exclude-agent-cases": {}
    }
  -> index at <outdir>/index.json (here ./reports/servers/index.json), keyed by each server's "agent".

Mode 2, test OUR CLIENT: `$WSTEST -m fuzzingserver -s fuzzingserver.json --webport 0`
  (wstest is the server on 127.0.0.1 (patched by autobahn-setup.sh); runs until killed)
    {
      "url": "ws://127.0.0.1:9002",
      "outdir": "./reports/clients",
      "cases": ["*"],
      "exclude-cases": ["9.*", "12.*", "13.*"],
      "exclude-agent-cases": {}
    }
  Client procedure, each step a separate WebSocket connection to that url:
    1. /getCaseCount -> one TEXT message carrying the case count N (decimal); then closed.
    2. for i in 1..=N: /runCase?case=i&agent=NAME -> echo every message back unchanged (text as
       text, binary as binary) until the connection is closed; an error in one case is not
       fatal, go on with the next.
    3. /updateReports?agent=NAME -> wstest writes the reports; then closed. Then kill wstest.
  -> index at <outdir>/index.json (here ./reports/clients/index.json), keyed by NAME.

Spec keys: "cases" / "exclude-cases" take case ids with "*" wildcards ("1.*", "7.1.*", "*");
9.* = performance (slow), 12.* / 13.* = permessage-deflate.

index.json (both modes):
    { "<agent>": {
        "<case id, e.g. 1.1.1>": {
          "behavior":        "OK" | "NON-STRICT" | "INFORMATIONAL" | "FAILED" | "UNIMPLEMENTED",
          "behaviorClose":   "OK" | "INFORMATIONAL" | "WRONG CODE" | "UNCLEAN" | "FAILED BY CLIENT" | "FAILED",
          "duration":        <int, ms>,
          "remoteCloseCode": <int or null>,
          "reportfile":      "<agent>_case_1_1_1.json"   (same dir; has "description",
                                                          "expectation", "result", "resultClose", wire log)
        }, ... }, ... }
"""

import argparse
import json
import os
import sys

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"]
CLOSE_BEHAVIORS = ["OK", "INFORMATIONAL", "WRONG CODE", "UNCLEAN", "FAILED BY CLIENT", "FAILED"]
# every value wstest 0.8.2 can write (autobahntestsuite/case/case.py); anything else is suspicious
KNOWN = set(BEHAVIORS) | set(CLOSE_BEHAVIORS) | {"NO_CLOSE"}
DEFAULT_FAIL = {"FAILED", "UNIMPLEMENTED"}

CLOSE_HEAD = {"OK": "OK", "INFORMATIONAL": "INFO", "WRONG CODE": "WRONGCODE",
              "UNCLEAN": "UNCLEAN", "FAILED BY CLIENT": "FAILBYCLI", "FAILED": "FAILED"}
BEH_HEAD = {"OK": "OK", "NON-STRICT": "NON-STRICT", "INFORMATIONAL": "INFO",
            "FAILED": "FAILED", "UNIMPLEMENTED": "UNIMPL"}


def case_key(case_id):
    out = []
    for part in str(case_id).split("."):
        try:
            out.append((0, int(part), ""))
        except ValueError:
            out.append((1, 0, part))
    return out


def group_of(case_id):
    return str(case_id).split(".", 1)[0]


def find_indexes(path):
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        return []
    direct = os.path.join(path, "index.json")
    if os.path.isfile(direct):
        return [direct]
    found = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        if "index.json" in files:
            found.append(os.path.join(root, "index.json"))
    return found


def load_detail(outdir, entry):
    """result / resultClose text from the per-case report file, if it is there."""
    rf = entry.get("reportfile")
    if not rf:
        return None
    try:
        with open(os.path.join(outdir, rf), encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError):
        return None
    parts = []
    # for NON-STRICT the text is always "Actual events match at least one expected."
    if entry.get("behavior") not in ("OK", "NON-STRICT") and d.get("result"):
        parts.append(str(d["result"]))
    if entry.get("behaviorClose") != "OK" and d.get("resultClose") and d.get("resultClose") != d.get("result"):
        parts.append("close: " + str(d["resultClose"]))
    return " | ".join(parts) or None


def fmt_row(cells, widths):
    return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def report_agent(index_path, agent, cases, fail_on, out):
    outdir = os.path.dirname(os.path.abspath(index_path))
    ids = sorted(cases, key=case_key)
    groups = {}
    for cid in ids:
        groups.setdefault(group_of(cid), []).append(cid)

    head = (["group", "cases"] + [BEH_HEAD[b] for b in BEHAVIORS] + ["other", "|"]
            + ["c:" + CLOSE_HEAD[b] for b in CLOSE_BEHAVIORS] + ["c:other"])
    rows = []
    total = [0] * (len(head) - 1)

    def counts(cids):
        row = [len(cids)]
        bs = [cases[c].get("behavior") for c in cids]
        cs = [cases[c].get("behaviorClose") for c in cids]
        row += [bs.count(b) for b in BEHAVIORS] + [sum(1 for b in bs if b not in BEHAVIORS), "|"]
        row += [cs.count(b) for b in CLOSE_BEHAVIORS] + [sum(1 for b in cs if b not in CLOSE_BEHAVIORS)]
        return row

    for g in sorted(groups, key=lambda s: case_key(s)):
        rows.append([g + ".*"] + counts(groups[g]))
    total = ["total"] + counts(ids)
    widths = [max(len(str(r[i])) for r in [head] + rows + [total]) for i in range(len(head))]

    print("", file=out)
    print("Autobahn results: agent %r, %d cases  (%s)" % (agent, len(ids), index_path), file=out)
    print(fmt_row(head, widths), file=out)
    for r in rows:
        print(fmt_row(r, widths), file=out)
    print(fmt_row(total, widths), file=out)

    bad = []      # cases that fail the run
    non_ok = []
    for cid in ids:
        e = cases[cid]
        b, c = e.get("behavior"), e.get("behaviorClose")
        if b == "OK" and c == "OK":
            continue
        failing = any(v in fail_on or v not in KNOWN for v in (b, c))
        non_ok.append((cid, e, failing))
        if failing:
            bad.append(cid)

    if non_ok:
        print("Non-OK cases (%d; '!!' = fails the run):" % len(non_ok), file=out)
        for cid, e, failing in non_ok:
            line = "  %s %-10s behavior=%-13s behaviorClose=%-16s closeCode=%-5s %4sms" % (
                "!!" if failing else "  ", cid, e.get("behavior"), e.get("behaviorClose"),
                e.get("remoteCloseCode"), e.get("duration", "?"))
            detail = load_detail(outdir, e)
            if detail:
                line += "  " + (detail if len(detail) <= 160 else detail[:157] + "...")
            print(line, file=out)
    else:
        print("All cases OK.", file=out)

    if not ids:
        print("ERROR: agent %r has no cases" % agent, file=out)
        return ["<no cases>"]
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description="Summarise Autobahn|Testsuite reports (index.json).")
    ap.add_argument("dir", metavar="DIR", help="wstest outdir (holding index.json), an index.json, or a parent dir")
    ap.add_argument("--agent", metavar="NAME", help="report only this agent")
    ap.add_argument("--fail-on", metavar="VALUE", action="append", default=[],
                    help="another behavior/behaviorClose value that fails the run (repeatable), e.g. UNCLEAN")
    args = ap.parse_args(argv)

    indexes = find_indexes(args.dir)
    if not indexes:
        print("autobahn-report: no index.json in or below %s" % args.dir, file=sys.stderr)
        return 2

    fail_on = DEFAULT_FAIL | set(args.fail_on)
    out = sys.stdout
    all_bad = []
    seen_agent = False
    total_cases = 0
    for path in indexes:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print("autobahn-report: cannot read %s: %s" % (path, e), file=sys.stderr)
            return 2
        if not isinstance(data, dict):
            print("autobahn-report: %s: not an Autobahn index (expected an object of agents)" % path, file=sys.stderr)
            return 2
        for agent in sorted(data):
            if args.agent is not None and agent != args.agent:
                continue
            seen_agent = True
            cases = data[agent] or {}
            total_cases += len(cases)
            all_bad += ["%s:%s" % (agent, c) for c in report_agent(path, agent, cases, fail_on, out)]

    if args.agent is not None and not seen_agent:
        print("autobahn-report: agent %r not found in %s" % (args.agent, ", ".join(indexes)), file=sys.stderr)
        return 2
    if not seen_agent:
        print("autobahn-report: no agents in %s" % ", ".join(indexes), file=sys.stderr)
        return 1

    print("", file=out)
    if all_bad:
        shown = ", ".join(all_bad[:20]) + (" ..." if len(all_bad) > 20 else "")
        print("autobahn-report: FAIL: %d of %d cases failed (%s): %s"
              % (len(all_bad), total_cases, "/".join(sorted(fail_on)), shown), file=out)
        return 1
    print("autobahn-report: PASS: %d cases, none %s" % (total_cases, "/".join(sorted(fail_on))), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
