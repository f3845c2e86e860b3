"""Signs up the person openapi.json's examples name, on a running `wugan serve`, with the operator
key: then the hospital run's examples register a seamless visit and admit a stay (an admission
needs an agreement for its deposit), and the fuzzer's stateful phase follows the document's links
from them to the operations on a real visit and a real stay.

Usage: python signed_patients.py BASE_URL DATA_DIR
"""
import json
import os
import sys
import urllib.request
import uuid

BASE, DATA = sys.argv[1], sys.argv[2]
OPERATOR = json.load(open(os.path.join(DATA, "credentials.json")))["operator_api_key"]
# The person of the examples of POST /api/v1/stays (by an e-voucher token) and POST /api/v1/visits
# (by the same person's ID card, 440301199001011234): one agreement serves both.
PEOPLE = [("01", "EC44030000000000000001")]

for cert_type, cert_no in PEOPLE:
    body = {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "use_personal_account": True,
            "payment": {"method": "credit_line", "bank_code": "BANK01"}}
    request = urllib.request.Request(BASE + "/api/v1/agreements", data=json.dumps(body).encode(), method="POST", headers={
        "content-type": "application/json", "authorization": f"Bearer {OPERATOR}", "idempotency-key": f"sp-{uuid.uuid4()}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        status = json.loads(answer.read()).get("status")
    if status != "active":
        sys.exit(f"signed_patients: {cert_no} is {status}, not active")
