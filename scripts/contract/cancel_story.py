#!/usr/bin/env python3
"""Play the "buyer cancels a verified order, seller approves" story through the client
that openapi-python-client generated from orderly's OpenAPI document.

    cancel_story.py --client-dir DIR --base-url URL --admin-token TOKEN [--openapi FILE]

DIR holds the generated package (`orderly_client/`). FILE, when given, is the document the
client was generated from; it is only read to word the messages about what it lacks.

The point is to prove the document is good enough for a generated client, so every call
goes through the generated `sync_detailed` functions and models. When the server does the
right thing but the generated client cannot express or parse it (an undocumented status
code, a body that does not fit its schema, a missing operation or model), that is a gap
in the *document*: the script says what is missing, carries on with the raw response
where it can, and fails at the end.

Exit codes: 0 story passed and the client expressed all of it; 1 the story passed against
the server but the document has gaps; 2 the server did not do what the story expects;
3 the generated client is missing or unusable.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "orderly_client"

ADDRESS = {
    "name": "Ada Lovelace",
    "street": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


# The operations the story uses: operationId -> (method, path), as the document should have them.
OPERATIONS = {
    "create_account": ("POST", "/api/v1/accounts"),
    "create_product": ("POST", "/api/v1/products"),
    "place_order": ("POST", "/api/v1/orders"),
    "pay": ("POST", "/api/v1/orders/{id}/pay"),
    "verify_payment": ("POST", "/api/v1/orders/{id}/verify-payment"),
    "cancel": ("POST", "/api/v1/orders/{id}/cancel"),
    "approve_cancellation": ("POST", "/api/v1/orders/{id}/cancellation/approve"),
    "get_order": ("GET", "/api/v1/orders/{id}"),
}


class StoryFailed(Exception):
    """The server did not behave as the story expects (exit 2)."""


class ClientUnusable(Exception):
    """The generated client lacks something the story cannot do without (exit 3)."""


@dataclass
class Gaps:
    """What the document lacks, as found while playing the story."""

    items: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.items.append(message)
        print(f"  DOCUMENT GAP: {message}")


class LastResponse:
    """An httpx response hook keeping the last raw response, so that when a generated
    parser raises, the story can still report what the server sent and go on."""

    def __init__(self) -> None:
        self.response: Any = None

    def __call__(self, response: Any) -> None:
        response.read()
        self.response = response


class Story:
    def __init__(self, args: argparse.Namespace) -> None:
        self.base_url = args.base_url.rstrip("/")
        self.admin_token = args.admin_token
        self.gaps = Gaps()
        self.doc = json.loads(Path(args.openapi).read_text()) if args.openapi else None

        sys.path.insert(0, str(Path(args.client_dir).resolve()))
        try:
            self.pkg = importlib.import_module(PACKAGE)
            self.models = importlib.import_module(f"{PACKAGE}.models")
            self.client_mod = importlib.import_module(f"{PACKAGE}.client")
        except ImportError as e:
            raise ClientUnusable(
                f"cannot import the generated package {PACKAGE!r} from {args.client_dir}: {e}"
            ) from e
        self.last = LastResponse()
        self.operations = self._index_operations()

    # --- the generated client ------------------------------------------------------

    def _index_operations(self) -> dict[str, ModuleType]:
        """operationId -> generated module. The generator files operations under
        api/<tag>/<operation_id>.py; the story looks them up by operationId only, so
        a change of tag does not break it."""
        api = importlib.import_module(f"{PACKAGE}.api")
        found: dict[str, ModuleType] = {}
        for info in pkgutil.walk_packages(api.__path__, prefix=f"{PACKAGE}.api."):
            if not info.ispkg:
                module = importlib.import_module(info.name)
                if hasattr(module, "sync_detailed"):
                    found[info.name.rsplit(".", 1)[1]] = module
        return found

    def operation(self, operation_id: str) -> ModuleType:
        module = self.operations.get(operation_id)
        method, path = OPERATIONS[operation_id]
        if module is None:
            raise ClientUnusable(
                f"the document has no operation `{operation_id}` ({method} {path}), "
                "so the generated client has no function for it"
            )
        return module

    def model(self, name: str) -> Any:
        cls = getattr(self.models, name, None)
        if cls is None:
            raise ClientUnusable(
                f"the generated client has no model `{name}`: the document lacks "
                f"components.schemas.{name} (or no operation refers to it)"
            )
        return cls

    def choice(self, model_name: str, field_name: str, value: str) -> Any:
        """A string field's value, as the generated client wants it: a plain `str` while
        the document gives no `enum`, the generated enum member (`CreateAccountRole`...)
        once it does. Keeps the story working on either kind of document."""
        enum_name = model_name + "".join(part.capitalize() for part in field_name.split("_"))
        enum_cls = getattr(self.models, enum_name, None)
        return enum_cls(value) if enum_cls is not None else value

    def client(self, token: str) -> Any:
        return self.client_mod.AuthenticatedClient(
            base_url=self.base_url,
            token=token,
            raise_on_unexpected_status=False,
            timeout=30.0,
            httpx_args={"event_hooks": {"response": [self.last]}},
        )

    def documented_statuses(self, method: str, path: str) -> list[str]:
        if self.doc is None:
            return []
        return list(self.doc.get("paths", {}).get(path, {}).get(method.lower(), {}).get("responses", {}))

    # --- one call ------------------------------------------------------------------

    def call(
        self,
        step: str,
        operation_id: str,
        expect: int,
        token: str,
        result_model: str | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Call one generated operation; return the JSON body the server sent.

        The server answering another status than `expect` fails the story (exit 2).
        The server answering `expect` while the generated client cannot parse it, or
        parses it as something other than `result_model`, is a document gap."""
        module = self.operation(operation_id)
        method, path = OPERATIONS[operation_id]
        client = self.client(token)
        label = f"{operation_id} ({method} {path})"
        self.last.response = None
        try:
            response = module.sync_detailed(client=client, **kwargs)
            status, content, parsed = int(response.status_code), response.content, response.parsed
            parse_error = None
        except Exception as e:  # a generated parser choking on the body
            raw = self.last.response
            if raw is None:
                raise StoryFailed(f"{step}: {label} raised before any response: {e!r}") from e
            status, content, parsed, parse_error = raw.status_code, raw.content, None, e

        try:
            body = json.loads(content) if content else {}
        except ValueError:
            body = {"_raw": content[:300].decode(errors="replace")}

        if status != expect:
            raise StoryFailed(
                f"{step}: {label} answered HTTP {status}, the story expects {expect}: "
                f"{json.dumps(body)[:400]}"
            )

        gaps_before = len(self.gaps.items)
        documented = self.documented_statuses(method, path)
        where = f" (the document lists only {', '.join(documented)})" if documented else ""
        if parse_error is not None:
            self.gaps.add(
                f"{label}: the generated client cannot parse the HTTP {status} body: "
                f"{type(parse_error).__name__}: {parse_error}; the response schema in the "
                f"document does not match what the server sends"
            )
        elif parsed is None:
            self.gaps.add(
                f"{label}: the server answers HTTP {status}, which the document does not "
                f"declare{where}; add a `{status}` response (schema "
                f"{result_model or 'of the body'}) so the generated client can return it"
            )
        elif result_model and type(parsed).__name__ != result_model:
            self.gaps.add(
                f"{label}: HTTP {status} was parsed as {type(parsed).__name__}, expected {result_model}"
            )
        if len(self.gaps.items) == gaps_before:
            print(f"  ok  {step}: HTTP {status}")
        else:
            print(f"  ~~  {step}: HTTP {status} as expected, but only through the raw response (gap above)")
        return body

    # --- the story -----------------------------------------------------------------

    def play(self) -> None:
        m, choice, admin = self.model, self.choice, self.admin_token

        def create_account(role: str) -> str:
            body = self.call(
                f"admin creates a {role}", "create_account", 201, admin, "AccountCreated",
                body=m("CreateAccount")(
                    role=choice("CreateAccount", "role", role),
                    name=f"contract {role} {uuid.uuid4().hex[:6]}",
                ),
            )  # fmt: skip
            if not body.get("token"):
                raise StoryFailed(f"create_account answered no token: {body}")
            return body["token"]

        def money(amount: int) -> Any:
            return m("MoneyDto")(amount=amount, currency=choice("MoneyDto", "currency", "EUR"))

        seller = create_account("seller")
        buyer = create_account("buyer")

        product = self.call(
            "seller creates a product", "create_product", 201, seller, "ProductDocument",
            body=m("CreateProduct")(
                title="Contract mug", price=money(1500), shipping_fee=money(300), stock=5, processing_days=2
            ),
        )  # fmt: skip
        order = self.call(
            "buyer places an order", "place_order", 201, buyer, "OrderDocument",
            body=m("PlaceOrderRequest")(
                lines=[m("OrderLineRequest")(product_id=uuid.UUID(product["id"]), quantity=1)],
                shipping_address=m("PlaceOrderRequestShippingAddress").from_dict(ADDRESS),
                payment_method=choice("PlaceOrderRequest", "payment_method", "card"),
            ),
        )  # fmt: skip
        oid = uuid.UUID(order["id"])

        self.call("buyer pays", "pay", 200, buyer, "OrderDocument", id=oid, body=m("PayRequest")())
        self.call(
            "admin verifies the payment", "verify_payment", 200, admin, "OrderDocument", id=oid,
            body=m("VerifyPaymentRequest")(outcome=choice("VerifyPaymentRequest", "outcome", "approved")),
        )  # fmt: skip
        self.call(
            "buyer requests cancellation", "cancel", 202, buyer, "OrderDocument", id=oid,
            body=m("CancelRequest")(reason=choice("CancelRequest", "reason", "no_longer_needed")),
        )  # fmt: skip
        self.call(
            "seller approves the cancellation", "approve_cancellation", 200, seller, "OrderDocument",
            id=oid, body=m("Empty")(),
        )  # fmt: skip
        final = self.call("buyer reads the order", "get_order", 200, buyer, "OrderDocument", id=oid)

        status, refunds = final.get("status"), final.get("refunds") or []
        if status != "cancelled":
            raise StoryFailed(f"the order's status is {status!r}, expected 'cancelled'")
        if len(refunds) != 1:
            raise StoryFailed(f"the order has {len(refunds)} refunds, expected 1: {refunds}")
        print(f"  ok  order {order['id']} is cancelled with one refund of {refunds[0].get('amount')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--client-dir", required=True, help="directory holding the generated orderly_client package"
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--openapi", help="the document the client was generated from (for messages)")
    args = parser.parse_args()

    try:
        story = Story(args)
        story.play()
    except ClientUnusable as e:
        print(f"cancel story: CLIENT UNUSABLE: {e}")
        return 3
    except StoryFailed as e:
        print(f"cancel story: FAILED: {e}")
        for gap in story.gaps.items:
            print(f"  (also a document gap: {gap})")
        return 2

    if story.gaps.items:
        print(
            f"cancel story: the server played the story, but the document has "
            f"{len(story.gaps.items)} gap(s) the generated client cannot express:"
        )
        for gap in story.gaps.items:
            print(f"  - {gap}")
        return 1
    print("cancel story: passed through the generated client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
