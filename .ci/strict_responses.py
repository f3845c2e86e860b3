"""The hub's real answers, read as a strict OpenAPI 3.0 client reads them.

Drives a running `wugan serve` (fresh data, built-in partners) through the stories an integrator
and a patient go through: sign-up, registration, fees, estimate, the doctor's click, a refund, a
cancellation, a registration cancelled, an inpatient stay with an interim and a bedside
settlement and its cancellation, the day's statement, reconciliation and clearing, the operator's
reads, and the patient's own door (texted code, session, real-name binding, sign-up, their reads).
Every JSON answer is validated against its operation's schema for its status with
openapi-schema-validator (OAS 3.0 semantics, as openapi-core and client generators read them);
schemathesis reaches few of these states (no signed patient, no settled visit, no patient
session). Fails on a schema problem, an undocumented status, or a story step that does not succeed.

Usage: python strict_responses.py BASE_URL DATA_DIR
"""
import datetime
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

BASE, DATA = sys.argv[1], sys.argv[2]
CREDS = json.load(open(os.path.join(DATA, "credentials.json")))
DOC = json.load(urllib.request.urlopen(BASE + "/openapi.json"))
REGISTRY = Registry().with_resource("urn:doc", Resource.from_contents(DOC, default_specification=DRAFT4))
TEMPLATES = sorted(((re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in DOC["paths"]), key=lambda t: t[1].count("{"))
problems = []
checked = 0


def absolute(schema):
    if isinstance(schema, dict):
        return {k: ("urn:doc" + v if k == "$ref" and v.startswith("#") else absolute(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [absolute(v) for v in schema]
    return schema


def validate(method, path, status, body):
    global checked
    for pattern, template in TEMPLATES:
        op = DOC["paths"][template].get(method.lower()) if pattern.match(path.split("?")[0]) else None
        if not op:
            continue
        response = op["responses"].get(str(status)) or op["responses"].get("default")
        if not response:
            problems.append(f"{method} {template}: answered {status}, which it does not document")
            return
        content = response.get("content", {}).get("application/json")
        if content is not None:
            checked += 1
            for e in OAS30Validator(absolute(content["schema"]), registry=REGISTRY).iter_errors(body):
                problems.append(f"{method} {template} {status} at /{'/'.join(map(str, e.absolute_path))}: {e.message[:240]}")
        return
    problems.append(f"{method} {path}: no documented operation")


def call(key, method, path, body=None, idempotent=True):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if key:
        request.add_header("Authorization", "Bearer " + key)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if method == "POST" and idempotent and key:
        request.add_header("Idempotency-Key", str(uuid.uuid4()))
    try:
        response = urllib.request.urlopen(request)
        status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if answer is not None:
        validate(method, path, status, answer)
    return status, answer


def step(name, expected, key, method, path, body=None, idempotent=True):
    """A story step that must succeed with `expected`."""
    status, answer = call(key, method, path, body, idempotent)
    if status != expected:
        problems.append(f"{name}: {method} {path} answered {status}, not {expected}: {json.dumps(answer, ensure_ascii=False)[:300]}")
    return answer if isinstance(answer, dict) else {}


def fee(sn, code, price, count, total):
    return {"feedetl_sn": sn, "med_list_codg": code, "medins_list_codg": code, "pric": price, "cnt": count,
            "det_item_fee_sumamt": total, "chrg_bchno": "1", "bilg_dept_codg": "A03", "bilg_dept_name": "内科",
            "bilg_dr_codg": "D001", "bilg_dr_name": "王医生", "hosp_appr_flag": "1"}


def hospital_stories(operator, his, hospital, token):
    n = uuid.uuid4().hex[:6]
    agreement = step("sign-up", 200, operator, "POST", "/api/v1/agreements", {"mdtrt_cert_type": "01", "mdtrt_cert_no": token,
                     "use_personal_account": True, "payment": {"method": "credit_line", "bank_code": "BANK01"}})
    for path in ["", "/consents", "/statements"]:
        call(operator, "GET", f"/api/v1/agreements/{agreement.get('id')}{path}")
    visit = step("registration", 200, his, "POST", "/api/v1/visits", {"ipt_otp_no": f"MZ{n}", "mdtrt_cert_type": "01", "mdtrt_cert_no": token, "med_type": "11"})
    vid = visit.get("id")
    lines = [fee(f"{n}-1", "001102000010000", "25.00", "1", "25.00"), fee(f"{n}-2", "013100000010000", "150.00", "8", "1200.00")]
    step("fees", 200, his, "POST", f"/api/v1/visits/{vid}/fees", {"lines": lines})
    step("estimate", 200, his, "POST", f"/api/v1/visits/{vid}/pre-settlement")
    step("the doctor's click", 200, his, "POST", f"/api/v1/visits/{vid}/settlement")
    call(his, "GET", f"/api/v1/visits/{vid}")
    refund = step("refund", 200, his, "POST", f"/api/v1/visits/{vid}/refunds", {"lines": [f"{n}-1"]})
    call(his, "GET", f"/api/v1/visits/{vid}/refunds")
    call(his, "GET", f"/api/v1/visits/{vid}/refunds/{refund.get('id')}")
    other = step("registration", 200, his, "POST", "/api/v1/visits", {"ipt_otp_no": f"MY{n}", "mdtrt_cert_type": "01", "mdtrt_cert_no": token}).get("id")
    step("fees", 200, his, "POST", f"/api/v1/visits/{other}/fees", {"lines": [fee(f"{n}-9", "001102000010000", "25.00", "1", "25.00")]})
    step("the doctor's click", 200, his, "POST", f"/api/v1/visits/{other}/settlement")
    step("cancellation", 200, his, "POST", f"/api/v1/visits/{other}/settlement/cancel")
    third = step("registration", 200, his, "POST", "/api/v1/visits", {"ipt_otp_no": f"MX{n}", "mdtrt_cert_type": "01", "mdtrt_cert_no": token}).get("id")
    step("registration cancelled", 200, his, "POST", f"/api/v1/visits/{third}/registration/cancel")
    call(his, "GET", "/api/v1/visits/no-such-visit")
    call(his, "POST", "/api/v1/visits", {"ipt_otp_no": f"MZ{n}", "mdtrt_cert_type": "01", "mdtrt_cert_no": token})  # 409 visit_exists
    stay = step("admission", 200, his, "POST", "/api/v1/stays", {"ipt_no": f"ZY{n}", "mdtrt_cert_type": "01", "mdtrt_cert_no": token, "deposit_fen": 30000})
    sid = stay.get("id")
    step("a day's fees", 200, his, "POST", f"/api/v1/stays/{sid}/fees", {"lines": [fee(f"{n}-s1", "001102000010000", "25.00", "1", "25.00"), fee(f"{n}-s2", "013100000010000", "150.00", "2", "300.00")]})
    step("interim settlement", 200, his, "POST", f"/api/v1/stays/{sid}/interim_settlement")
    step("a day's fees", 200, his, "POST", f"/api/v1/stays/{sid}/fees", {"lines": [fee(f"{n}-s3", "001102000010000", "25.00", "1", "25.00")]})
    step("the bedside click", 200, his, "POST", f"/api/v1/stays/{sid}/discharge")
    step("stay settlement cancelled", 200, his, "POST", f"/api/v1/stays/{sid}/settlement/cancel")
    call(his, "GET", f"/api/v1/stays/{sid}")
    call(his, "GET", "/api/v1/visits")
    invoices = step("invoices", 200, his, "GET", "/api/v1/invoices").get("invoices") or [{}]
    call(his, "GET", f"/api/v1/invoices/{invoices[0].get('id')}")
    today = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).strftime("%Y-%m-%d")
    step("statement", 200, his, "GET", f"/api/v1/hospitals/{hospital}/statements/{today}")
    for path in ["/api/v1/ledger", "/api/v1/ledger/journal", "/api/v1/exceptions", "/api/v1/operator/visits", f"/api/v1/operator/visits/{vid}",
                 "/api/v1/operator/audit", "/api/v1/operator/hospitals", "/api/v1/operator/keys", "/api/v1/operator/hospital-banks", "/api/v1/operator/staff"]:
        step("operator read", 200, operator, "GET", path)
    step("reconciliation", 200, operator, "POST", "/api/v1/reconciliations", {"date": today})
    step("clearing", 200, operator, "POST", "/api/v1/clearings", {"date": today})


def patient_stories(certno, name):
    mobile = "139" + str(uuid.uuid4().int)[:8]
    step("sign-in code", 202, None, "POST", "/api/v1/patient/sign-in-codes", {"mobile": mobile})
    outbox = os.path.join(DATA, "sms-outbox.log")
    for _ in range(50):
        texts = [json.loads(line) for line in open(outbox, encoding="utf-8") if mobile in line] if os.path.exists(outbox) else []
        if texts:
            break
        time.sleep(0.1)
    code = "".join(c for c in texts[-1]["text"] if c.isdigit())[:6] if texts else "000000"
    pat = step("session", 201, None, "POST", "/api/v1/patient/sessions", {"mobile": mobile, "code": code}).get("token")
    step("real-name binding", 200, pat, "POST", "/api/v1/patient/me/identity", {"certno": certno, "name": name, "face_check_ref": "FACE-1"}, idempotent=False)
    version = step("agreement text", 200, pat, "GET", "/api/v1/patient/agreement-text").get("version")
    agreement = step("the patient's sign-up", 200, pat, "POST", "/api/v1/patient/agreements",
                     {"agreement_version": version, "channel": "h5", "payment": {"method": "credit_line", "bank_code": "BANK01"}})
    for path in ["/api/v1/patient/me", "/api/v1/patient/agreements", "/api/v1/patient/visits", "/api/v1/patient/notifications",
                 "/api/v1/patient/seamless", "/api/v1/patient/bills", "/api/v1/patient/family-invitations", "/api/v1/patient/consents",
                 "/api/v1/patient/special-diseases", "/api/v1/patient/claims", "/api/v1/patient/stay_invoices",
                 f"/api/v1/patient/agreements/{agreement.get('id')}", f"/api/v1/patient/agreements/{agreement.get('id')}/statements"]:
        step("the patient's read", 200, pat, "GET", path)


hospital = CREDS["hospitals"][0]
hospital_stories(CREDS["operator_api_key"], hospital["api_key"], hospital["code"], "EC44030000000000000001")
patient_stories("440303195803152420", "李秀英")
for p in problems:
    print("strict responses:", p)
print(f"strict responses: {checked} answers checked against openapi.json, {len(problems)} problems")
sys.exit(1 if problems else 0)
