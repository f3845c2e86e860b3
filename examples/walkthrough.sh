#!/bin/sh
# The README's walkthrough: sign 张三 up for a credit line, register a visit, upload its fees and
# settle at the doctor's click. His personal account (800.00 yuan) does not cover his share of this
# visit, so the rest is charged to the credit line (bank_fen > 0).
# Run against a fresh `wugan serve` (default data folder `data`, or DATA=folder; HUB=url).
set -eu
HUB=${HUB:-http://127.0.0.1:8080}
DATA=${DATA:-data}
OP=$(jq -r .operator_api_key "$DATA/credentials.json")
HIS=$(jq -r '.hospitals[0].api_key' "$DATA/credentials.json")
json() { curl -sS -H 'content-type: application/json' "$@"; }

# Sign the patient up once (operator / patient-channel key): ID card (02), credit line at BANK01.
AGR=$(json "$HUB/api/v1/agreements" -H "Authorization: Bearer $OP" -H 'Idempotency-Key: walk-s1' \
  -d '{"mdtrt_cert_type":"02","mdtrt_cert_no":"440301199001011234","payment":{"method":"credit_line","bank_code":"BANK01"}}' | jq -r .id)
echo "agreement $AGR"

# Register the visit (2201 behind it) with the hospital's key.
V=$(json "$HUB/api/v1/visits" -H "Authorization: Bearer $HIS" -H 'Idempotency-Key: walk-v1' \
  -d '{"ipt_otp_no":"MZ0001","mdtrt_cert_type":"02","mdtrt_cert_no":"440301199001011234"}' | jq -r .id)
echo "visit $V"

# Upload the fee lines (2204): a consultation and a box of a negotiated drug (乙类, 20 % first self-paid).
json "$HUB/api/v1/visits/$V/fees" -H "Authorization: Bearer $HIS" -H 'Idempotency-Key: walk-f1' \
  -d '{"lines":[
    {"feedetl_sn":"1","med_list_codg":"001102000010000","pric":"25.00","cnt":"1","det_item_fee_sumamt":"25.00"},
    {"feedetl_sn":"2","med_list_codg":"XL04AXL150E001010100136","pric":"1380.00","cnt":"1","det_item_fee_sumamt":"1380.00"}]}' \
  | jq -c '{medfee_fen}'

# The doctor's click (2206, bank hold, 2207, capture, ledger): fund, personal account, credit line.
json -X POST "$HUB/api/v1/visits/$V/settlement" -H "Authorization: Bearer $HIS" -H 'Idempotency-Key: walk-c1' \
  | jq -c '{state, medfee_fen, fund_fen, personal_account_fen, bank_fen, hospital_credited_fen}'

# What the credit line owes now (from the bank).
json "$HUB/api/v1/agreements/$AGR/statements" -H "Authorization: Bearer $OP" | jq -c '{used_fen, debt_fen}'
