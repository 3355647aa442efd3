"""Schemathesis hooks for orderly: state the fuzzer cannot guess from the schema alone.

- Every POST gets a fresh Idempotency-Key (when the generated one is valid). A reused key
  with another body is *meant* to be 422 (SPEC: same key, different request), which the
  schema cannot express; fresh keys let the fuzzer test everything else.
- Order lines name the product created for the run (ORDERLY_PRODUCT_ID), so that orders
  are really placed and the stateful phase can follow the links from a created order to
  the operations on it. Only a valid UUID is replaced by another valid UUID, so negative
  cases stay negative.
- A product's shipping fee is in its price's currency: a rule between two fields that the
  schema cannot state, so a valid currency is aligned with the price's valid currency.
- A product's prices change only in its own currency, a rule between the body and the stored
  product: a PATCH with a valid product id changes the run's product (priced in EUR), and a
  valid currency in its body becomes EUR.
- The run's product must stay orderable: a valid price a PATCH gives it is brought under
  1,000.00, so that orders of up to 999 of it stay within the largest total the server
  accepts (past it, placing is a 422 on `lines`, a rule between the body and the stored
  product that the schema cannot state either).
- An evidence file is judged by its bytes (JPEG, PNG, WebP or PDF), which a schema's
  `format: binary` cannot say: the generated file is replaced by a real one-pixel PNG.
"""

import os
import re
import uuid

import schemathesis

PRODUCT_ID = os.environ.get("ORDERLY_PRODUCT_ID", "")
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
# A valid 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and KEY.match(key):
        headers["Idempotency-Key"] = uuid.uuid4().hex
        case.headers = headers
    if PRODUCT_ID and case.operation.method.upper() == "POST" and case.operation.path == "/api/v1/orders":
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("lines"), list):
            for line in body["lines"]:
                if isinstance(line, dict) and isinstance(line.get("product_id"), str) and UUID.match(line["product_id"]):
                    line["product_id"] = PRODUCT_ID
    if case.operation.method.upper() == "POST" and case.operation.path == "/api/v1/products":
        body = case.body
        if isinstance(body, dict):
            price, fee = body.get("price"), body.get("shipping_fee")
            if isinstance(price, dict) and isinstance(fee, dict):
                if CURRENCY.match(str(price.get("currency", ""))) and CURRENCY.match(str(fee.get("currency", ""))):
                    fee["currency"] = price["currency"]
    if PRODUCT_ID and case.operation.method.upper() == "PATCH" and case.operation.path == "/api/v1/products/{id}":
        params = case.path_parameters or {}
        if isinstance(params.get("id"), str) and UUID.match(params["id"]):
            params["id"] = PRODUCT_ID
            case.path_parameters = params
        body = case.body
        if isinstance(body, dict):
            for field in ("price", "shipping_fee"):
                amount = body.get(field)
                if isinstance(amount, dict) and CURRENCY.match(str(amount.get("currency", ""))):
                    amount["currency"] = "EUR"
                    value = amount.get("amount")
                    if isinstance(value, int) and not isinstance(value, bool) and value > 100_000:
                        amount["amount"] = 1 + value % 100_000
    if case.operation.method.upper() == "POST" and case.operation.path.endswith("/claim/evidence"):
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("file"), (bytes, str)):
            body["file"] = PNG
