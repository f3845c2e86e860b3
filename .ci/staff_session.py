"""A bank clerk's staff session on a running `wugan serve`, for schemathesis' run on the staff routes.

Adds a staff account of the bank role for the built-in bank (BANK01) with the operator's key, signs
it in with its password as the console's sign-in page does, and prints the session's token (the
value of the wugan_staff cookie). A bank clerk is the one role every /api/v1/staff/ route answers
200: the bank's own agreements and hospitals are refused to the others.

Usage: python staff_session.py BASE_URL DATA_DIR
"""
import json
import os
import secrets
import sys
import urllib.request
import uuid

BASE, DATA = sys.argv[1], sys.argv[2]
operator_key = json.load(open(os.path.join(DATA, "credentials.json")))["operator_api_key"]


def post(path, body, headers):
    request = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", **headers})
    return urllib.request.urlopen(request, timeout=30)


login, password = f"fuzz-clerk-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(18)
post("/api/v1/operator/staff",
     {"login": login, "display_name": "Fuzz clerk", "role": "bank", "bank_code": "BANK01", "password": password},
     {"authorization": f"Bearer {operator_key}", "idempotency-key": f"ss-{uuid.uuid4()}"}).read()
answer = post("/api/v1/staff/sessions", {"login": login, "password": password}, {})
cookies = [v.split(";", 1)[0].strip() for v in answer.headers.get_all("set-cookie") or []]
token = next((c.split("=", 1)[1] for c in cookies if c.startswith("wugan_staff=")), "")
if not token:
    sys.exit("staff_session: the sign-in set no wugan_staff cookie")
# The session opens the clerk's own routes (or the run would be answered 401 throughout).
me = urllib.request.Request(BASE + "/api/v1/staff/me", headers={"cookie": f"wugan_staff={token}"})
if json.load(urllib.request.urlopen(me, timeout=30)).get("role") != "bank":
    sys.exit("staff_session: the session is not the bank clerk's")
print(token)
