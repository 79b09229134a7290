#!/usr/bin/env python3
"""What an integrator does first, against a live `dtr`:

1. reads /openapi.yaml with a YAML 1.1 reader (PyYAML) and checks it equals /openapi.json;
2. checks the example referrals against the spec's Referral schema (the valid ones and those refused
   only by legal rules match it; the structurally broken ones do not);
3. generates clients from the served spec with two independent generators, openapi-python-client
   and datamodel-code-generator, and fails on any warning either prints;
4. drives the main job through the generated Python client: create keys, validate, submit, read
   back, list as the authority, acknowledge, read the audit trail, and get a typed 422 Problem;
5. does the same in TypeScript (scripts/typescript): types from openapi-typescript, requests
   through openapi-fetch, compiled with `tsc --strict`, and a receiver that verifies the push with
   the `standardwebhooks` package and tells the pushed events apart by `type`. `scripts/test`
   installs its pinned packages into $DTR_TS_DIR.

Usage: scripts/integrators.py PATH-TO-DTR WORK-DIR
"""

import datetime
import glob
import importlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import jsonschema
import yaml

DTR, WORK = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADMIN = "integrators-admin-key-0123456789abcdef"



def term(value):
    """A listed value as text: an enum member's value, or the string itself (lists that may grow
    are open strings in the spec, so a generated client accepts values it does not know)."""
    return getattr(value, "value", value)

def start_dtr():
    env = dict(
        os.environ,
        DTR_DATABASE_URL=f"sqlite://{WORK}/dtr.db?mode=rwc",
        DTR_AUDIT_KEY_FILE=f"{WORK}/dtr-audit.key",
        DTR_LISTEN="127.0.0.1:0",
        DTR_BOOTSTRAP_ADMIN_KEY=ADMIN,
        DTR_RATE_LIMIT="0",
        DTR_RATE_LIMIT_ANON="0",
        # The TypeScript receiver listens on loopback over plain HTTP.
        DTR_ALLOW_INSECURE_ENDPOINTS="true",
    )
    log = open(f"{WORK}/dtr.log", "w")
    proc = subprocess.Popen([DTR, "serve"], env=env, stderr=log, stdout=subprocess.DEVNULL)
    for _ in range(300):
        text = open(f"{WORK}/dtr.log").read()
        found = re.search(r"dtr listening on (http://[0-9.:]+) \(docs", text)
        if found:
            return proc, found.group(1)
        time.sleep(0.1)
    proc.kill()
    sys.exit(f"dtr did not start:\n{open(f'{WORK}/dtr.log').read()}")


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.read().decode()


def check_yaml(base):
    as_json = json.loads(fetch(f"{base}/openapi.json"))
    as_yaml = yaml.safe_load(fetch(f"{base}/openapi.yaml"))
    assert as_yaml == as_json, "a YAML 1.1 reader sees another spec in /openapi.yaml"
    print("== /openapi.yaml equals /openapi.json under PyYAML")
    return as_json


# Codes that break the schema itself (a missing, unknown or mistyped member, a value outside its
# length or set, an incomplete override). An example refused only for other reasons — the law, the
# calendar, the register, a repeated member (invisible once parsed) — must match the schema: that is
# what a client generated from it would send.
SCHEMA_CODES = (
    "field.required", "field.unknown", "field.type", "field.too_long", "field.too_short",
    "field.invalid_value", "consent.override_incomplete",
)
# And an example with these must not match it: the schema catches them before we do.
STRUCTURAL = ("field.required", "field.unknown", "field.type")


def check_examples(spec):
    schemas = spec["components"]["schemas"]
    referral = dict(schemas["Referral"], components=spec["components"])
    validator = jsonschema.Draft4Validator(referral)
    expected = json.load(open(f"{ROOT}/openapi/examples/expected.json"))["examples"]
    checked = 0
    for path in sorted(glob.glob(f"{ROOT}/openapi/examples/*.json")):
        name = os.path.basename(path)
        if name == "expected.json":
            continue
        document = json.load(open(path))
        codes = [e.rsplit(" ", 1)[1] for e in expected[name]["errors"]]
        problems = [e.message for e in validator.iter_errors(document)]
        if any(c in STRUCTURAL for c in codes):
            assert problems, f"{name} breaks the structure but matches the schema"
            checked += 1
        elif not any(c in SCHEMA_CODES for c in codes):
            assert not problems, f"{name} does not match the spec's Referral schema: {problems}"
            checked += 1
    assert checked >= 20, checked
    print(f"== {checked} example referrals checked against the spec's request schema")


def run_quietly(args, what):
    out = subprocess.run(args, capture_output=True, text=True)
    text = out.stdout + out.stderr
    if out.returncode != 0 or re.search(r"warn", text, re.IGNORECASE):
        sys.exit(f"{what} failed or warned:\n{text}")


def generate(spec_path):
    run_quietly(
        [
            "openapi-python-client", "generate", "--path", spec_path, "--meta", "none",
            "--output-path", f"{WORK}/dtr_client", "--overwrite",
        ],
        "openapi-python-client",
    )
    run_quietly(
        [
            "datamodel-codegen", "--input", spec_path, "--input-file-type", "openapi",
            "--output", f"{WORK}/dtr_models.py", "--formatters", "builtin",
        ],
        "datamodel-code-generator",
    )
    sys.path.insert(0, WORK)
    importlib.import_module("dtr_models")
    print("== openapi-python-client and datamodel-code-generator generated clean code")


def flow(base):
    from dtr_client import AuthenticatedClient
    from dtr_client.api.audit import list_referral_audit_events
    from dtr_client.api.keys import create_api_key
    from dtr_client.api.referrals import (
        acknowledge_referral, get_referral, list_referrals, submit_referral, validate_referral,
    )
    from dtr_client.models import (
        AcknowledgeRequest, AgencyType, ApiKeyCreated, ApiKeyRequest, Problem, Referral,
        ReferralList, ReferralResource, ReferralStatus, Role, ValidationReport,
    )

    admin = AuthenticatedClient(base_url=base, token=ADMIN, raise_on_unexpected_status=True)

    def key(body):
        created = create_api_key.sync(client=admin, body=body)
        assert isinstance(created, ApiKeyCreated), created
        return AuthenticatedClient(base_url=base, token=created.key, raise_on_unexpected_status=True)

    referrer = key(ApiKeyRequest(role=Role.REFERRER, organisation="HMPPS Yorkshire",
                                 agency_type=AgencyType.PROBATION))
    sheffield = key(ApiKeyRequest(role=Role.AUTHORITY, gss_code="E08000039"))

    document = json.load(open(f"{ROOT}/openapi/examples/valid-homeless.json"))
    minute_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    document["consent"]["recorded_at"] = minute_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
    referral = Referral.from_dict(document)

    report = validate_referral.sync(client=referrer, body=referral)
    assert isinstance(report, ValidationReport) and report.valid, report

    created = submit_referral.sync(client=referrer, body=referral, idempotency_key="integrators-1")
    assert isinstance(created, ReferralResource), created
    assert created.status == ReferralStatus.AWAITING_COLLECTION, created.status

    again = get_referral.sync(created.id, client=referrer)
    assert isinstance(again, ReferralResource) and again.id == created.id

    inbox = list_referrals.sync(client=sheffield)
    assert isinstance(inbox, ReferralList)
    assert [r.id for r in inbox.items] == [created.id], inbox

    read = get_referral.sync(created.id, client=sheffield)
    assert read.status == ReferralStatus.DELIVERED, read.status
    acknowledged = acknowledge_referral.sync(
        created.id, client=sheffield, body=AcknowledgeRequest(received_by="Housing Options"))
    assert acknowledged.status == ReferralStatus.ACKNOWLEDGED, acknowledged

    trail = list_referral_audit_events.sync(created.id, client=referrer)
    actions = [term(e.action) for e in trail.items]
    assert actions[:2] == ["referral.received", "referral.accepted"], actions
    assert "referral.acknowledged" in actions, actions

    document["housing_authority"]["gss_code"] = "W06000015"
    refused = submit_referral.sync_detailed(client=referrer, body=Referral.from_dict(document))
    assert refused.status_code == 422, refused.status_code
    problem = refused.parsed
    assert isinstance(problem, Problem), problem
    assert term(problem.type_) == "urn:dtr:problem:referral.invalid", problem.type_
    assert [(e.pointer, term(e.code)) for e in problem.errors] == [
        ("/housing_authority/gss_code", "housing_authority.not_in_england")
    ], problem.errors
    print("== the generated Python client made, read, collected and acknowledged a referral")


def typescript(spec_path, base):
    ts = os.environ.get("DTR_TS_DIR")
    if not ts:
        sys.exit("DTR_TS_DIR is not set: scripts/test installs the TypeScript packages there")
    for name in ("integrator.ts", "tsconfig.json"):
        with open(f"{ROOT}/scripts/typescript/{name}") as src, open(f"{ts}/{name}", "w") as dst:
            dst.write(src.read())

    def run(*args):
        done = subprocess.run(args, cwd=ts, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    run(f"{ts}/node_modules/.bin/openapi-typescript", spec_path, "-o", "schema.ts")
    run(f"{ts}/node_modules/.bin/tsc", "-p", "tsconfig.json")
    print(run("node", "dist/integrator.js", base, ADMIN,
              f"{ROOT}/openapi/examples/valid-homeless.json").strip())


def main():
    proc, base = start_dtr()
    try:
        spec = check_yaml(base)
        spec_path = f"{WORK}/openapi.json"
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        check_examples(spec)
        generate(spec_path)
        flow(base)
        typescript(spec_path, base)
    finally:
        proc.terminate()
        proc.wait()


main()
