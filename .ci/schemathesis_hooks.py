"""Schemathesis hooks for the hub's CI run (.ci/schemathesis).

Three facts about the API that a schema cannot state, taught to the fuzzer here rather than bent
into the API:

1. An Idempotency-Key is a nonce the client picks for each distinct request; the hub answers a key
   reused for another request with 422 idempotency_key_reused (as the IETF idempotency-key draft
   says). Generated keys repeat across operations ("0", "000..."), so a well-formed generated key
   is swapped for a fresh one before the call. Missing and malformed keys are sent as generated, so
   their rejection (400 missing_idempotency_key / bad_idempotency_key) is still tested.

2. A schema-valid request can still be refused by facts outside the request: the certificate number
   names nobody the insurance center knows, the bank code is not one the hub has a contract with,
   pric x cnt is not the line total. The hub answers those with 422 and a stable code. Those codes,
   and only those, are not counted as "schema-valid request rejected" (ST202); a 422 with any other
   code (missing_field, bad_amount, invalid_request, ...) still fails the run, because it means the
   schema lets through something the hub calls malformed.

3. The drop-in national interface (/ni/<token>/...) answers only under a hospital's secret token,
   and only envelopes of that hospital: the "ni" run's token goes into the path and the hospital,
   a fresh msgid and a known infno into each envelope, so that generated inputs reach the parsers
   behind the institution check. Other runs are left as generated.
"""

import os
import re
import uuid
import zlib

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData

# Mirrors the documented Idempotency-Key parameter: 1-128 visible ASCII characters.
WELL_FORMED_KEY = re.compile(r"[!-~]{1,128}")


# The drop-in national interface (the "ni" run): envelopes of the seeded hospital, for the
# interfaces it passes on and those it settles itself, so that the generated inputs get past the
# institution check to the parsers behind it.
NI_INFNOS = ["1101", "2201", "2203", "2204", "2205", "2206", "2207", "2208", "2401", "2301", "2303", "2304", "2305", "9001"]


def _national_envelope(case, body):
    hospital = os.environ.get("WUGAN_NI_HOSPITAL")
    if hospital and case.path.startswith("/ni/") and isinstance(body, dict):
        # crc32, not hash(): the same seed makes the same envelopes in every run.
        body["infno"] = NI_INFNOS[zlib.crc32(repr(sorted(body.items(), key=str)).encode()) % len(NI_INFNOS)]
        body["fixmedins_code"] = hospital
        body["msgid"] = f"{hospital}{uuid.uuid4().int % 10**18:018d}"


@schemathesis.hook
def before_call(context, case, kwargs):
    _national_envelope(case, case.body)
    _national_envelope(case, kwargs.get("json"))
    headers = case.headers
    if not headers:
        return
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED_KEY.fullmatch(value):
            headers[name] = f"st-{uuid.uuid4()}"


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    """The drop-in national interface's secret token (the "ni" run), else the path as generated."""
    token = os.environ.get("WUGAN_NI_TOKEN")
    if token and path_parameters and "token" in path_parameters and context.operation.path.startswith("/ni/"):
        path_parameters["token"] = token
    return path_parameters


# 422 codes that depend on data outside the request or on rules across fields (see openapi.json).
REFUSALS_OF_VALID_REQUESTS = {
    "person_not_found",  # the insurance center (1101) does not know this certificate
    "not_insured",  # ... or knows the person but holds no insurance for them
    "person_mismatch",  # psn_no is not the person the certificate identifies
    "insutype_not_held",  # the person does not hold the named insurance type
    "unknown_bank",  # no contract with this bank code (deployment configuration)
    "self_link",  # the family member is the signer
    "consent_required",  # guardian consent offered for an adult (depends on the member's age)
    "amount_mismatch",  # det_item_fee_sumamt is not pric x cnt
    "duplicate_fee_line",  # two lines of one upload share a feedetl_sn (JSON Schema cannot say "unique by key")
    "insurance_refused",  # the insurance center's own business refusal
    "bank_refused",  # the bank's own business refusal
    "personal_account_refused",  # personal account balance too low
    "more_than_owed",  # a repayment above what the line owes (the line's debt is outside the request)
    "bad_time_range",  # the journal's from is not before its to (a rule across two parameters)
    "bad_date",  # a day the calendar lacks (2026-02-30): a pattern cannot say how long each month is
    "bad_datetime",  # begntime / fee_ocur_time / a discharge's endtime that is not a time (yyyy-MM-dd HH:mm:ss or ISO 8601): the same
    "bad_endtime",  # a discharge's endtime before the stay's admission or ahead of the hub's clock (facts outside the request)
    "bad_begntime",  # an admission's begntime more than 30 days back or ahead of the hub's clock (the clock is outside the request)
    "die_date_without_death",  # a discharge's die_date with a dscg_way other than 5 (a rule across fields)
    "unknown_hospital",  # no hospital with this code on the hub (a key, a staff account, a special-disease registration or a claim names one)
    "tenant_required",  # hospital staff name a hospital_code, bank staff a bank_code (a rule across fields)
    "bad_url",  # a webhook endpoint that is not an http(s) URL with a host
    "bad_bank_url",  # a bank's url that is not an http(s) URL with a host
    "bad_bank_code",  # a bank code with other than letters, digits, '_' and '-'
    "bad_hospital_code",  # a hospital code with other than letters, digits, '_' and '-' (as a bank's)
    "weak_secret",  # a secret under 16 characters, or the two secrets the same (a rule across fields)
    "bank_unreachable",  # nothing answers at the bank's url (a fact outside the request)
    "bank_check_failed",  # the bank answers but refuses the keys (a fact outside the request)
    "unknown_deposit_policy",  # deposit_policy is free text in the schema; only no_receipts/receipts are known
    "bad_setl_type",  # setl_type is free text in the schema; ALL, CASH and HI are known
    "bad_diagnosis",  # a diagnosis code or name that is blank (the pattern allows spaces inside)
    "bad_platform_url",  # a platform url that is not an http(s) URL with a host
    "bad_platform_credential",  # app_id without its secret or the reverse (a rule across fields)
    "bad_ca_signer",  # a signer other than none / hmac-sha256, or hmac-sha256 without its key
    "bad_settlement_record",  # a national platform's 2207/2208 record whose shares do not add up, or that does not negate the settlement it cancels (rules across fields and with the stored settlement)
    "unknown_fee_line",  # a refund or withdrawal naming a line the visit or stay does not have (its lines are outside the request)
    "wrong_code",  # a sign-in code of 6 digits that is not the one texted (the text is outside the request)
    "no_live_code",  # no code texted to this number, or it expired or ran out of tries (the same)
    "identity_mismatch",  # the name is not the ID number's holder's (the insurance center's records)
    "claim_total_mismatch",  # paid_fen is not the lines' total (a rule across fields)
    "bad_account",  # a receiving account that is not 8 to 32 digits (a pattern would refuse the spaces allowed between groups)
}


def _error_code(response):
    try:
        return response.json()["error"]["code"]
    except Exception:
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, RejectedPositiveData) and response.status_code == 422:
        return _error_code(response) not in REFUSALS_OF_VALID_REQUESTS
    return True
