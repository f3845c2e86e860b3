"""A patient's session on a running `wugan serve`, for schemathesis' run on the patient's routes.

Signs a patient in the way a phone does (a texted code, read from the built-in SMS outbox in the
data folder), binds their identity and signs them up with the built-in bank's credit line, so that
the fuzzer meets a patient with an agreement; prints the session token (pat_...).

Usage: python patient_session.py BASE_URL DATA_DIR
"""
import json
import os
import sys
import time
import urllib.request
import uuid

BASE, DATA = sys.argv[1], sys.argv[2]
# A person the built-in insurance center knows (crates/insurance's sample people).
CERTNO, NAME = "440303195803152420", "李秀英"


def call(method, path, body=None, token=None, key=True):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if key and method == "POST":
        headers["idempotency-key"] = f"ps-{uuid.uuid4()}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


mobile = "139" + str(uuid.uuid4().int)[:8]
call("POST", "/api/v1/patient/sign-in-codes", {"mobile": mobile}, key=False)
outbox = os.path.join(DATA, "sms-outbox.log")
texts = []
for _ in range(100):
    if os.path.exists(outbox):
        texts = [json.loads(line) for line in open(outbox, encoding="utf-8") if mobile in line]
    if texts:
        break
    time.sleep(0.1)
if not texts:
    sys.exit("patient_session: no code was texted")
code = "".join(c for c in texts[-1]["text"] if c.isdigit())[:6]
token = call("POST", "/api/v1/patient/sessions", {"mobile": mobile, "code": code}, key=False)["token"]
call("POST", "/api/v1/patient/me/identity", {"certno": CERTNO, "name": NAME, "face_check_ref": "FACE-1"}, token, key=False)
version = call("GET", "/api/v1/patient/agreement-text")["version"]
call("POST", "/api/v1/patient/agreements",
     {"agreement_version": version, "channel": "h5", "payment": {"method": "credit_line", "bank_code": "BANK01"}}, token)
print(token)
