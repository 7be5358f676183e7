#!/usr/bin/env python3
"""Validates every response of a running Twilio simulator against Twilio's OpenAPI schemas.

Usage:
  validate_schemas.py --api-url http://127.0.0.1:PORT/api --pricing-url http://127.0.0.1:PORT/pricing \
      --trunking-url http://127.0.0.1:PORT/trunking --account-sid AC... --auth-token TOKEN \
      --spec-dir /work/shared/reference/twilio-openapi [--cafile ca.pem]

Each API is called at its own base URL, as each has its own host at Twilio (the simulator serves each under a path
prefix and refuses the others' paths there).

It walks the endpoints numberd uses (search, buy, list, fetch, update, release, pricing, trunks, trunk numbers,
origination URLs, error bodies), resolves each response's schema from the spec (path template + method + status, `$ref`s inlined
from components/schemas) and validates the body with `jsonschema`. The spec schemas are loose (no `required`, extra
keys allowed), so the check tightens them: every property the schema lists must be present and no other key may
appear. The documented spec-vs-live differences (shared/reference/twilio-api.md §2.3, §8) are handled narrowly:
  * AvailablePhoneNumbers search results: capabilities keys `SMS`/`MMS` upper case; latitude/longitude strings
    with six decimals; the list envelope has only `uri` and `available_phone_numbers` (no paging fields).
  * IncomingPhoneNumber: the live resource also carries `subresource_uris` (not in the spec subset).
Prices follow the spec's own `x-twilio.overrideType: string` (decimal strings such as "1.15").
A self-test first checks that broken bodies are refused, so a vacuous validator cannot pass.
Exit status 0 when everything validates, 1 otherwise (each violation printed).
"""

import argparse
import base64
import copy
import json
import re
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

AVAILABLE_ITEM_PREFIX = "api.v2010.account.available_phone_number_country.available_phone_number_"
INCOMING_COMPONENT = "api.v2010.account.incoming_phone_number"
PAGING_KEYS = {"first_page_uri", "next_page_uri", "previous_page_uri", "page", "page_size", "start", "end"}
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} \+0000$")
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
COORDINATE = r"^-?[0-9]{1,3}\.[0-9]{6}$"

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "more_info", "status"],
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string", "minLength": 1},
        "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/docs/errors/\d+$"},
        "status": {"type": "integer"},
    },
}


def format_checker():
    checker = jsonschema.FormatChecker(formats=())
    checker.checks("date-time-rfc-2822")(lambda v: not isinstance(v, str) or bool(RFC2822.match(v)))
    checker.checks("date-time")(lambda v: not isinstance(v, str) or bool(ISO8601.match(v)))
    checker.checks("http-method")(lambda v: not isinstance(v, str) or v in ("GET", "POST"))
    checker.checks("iso-country-code")(lambda v: not isinstance(v, str) or bool(re.match(r"^[A-Z]{2}$", v)))
    return checker


class Spec:
    """The three OpenAPI files, with schemas resolved per (method, concrete path, status)."""

    def __init__(self, spec_dir):
        self.docs = []
        for name in ("api_v2010_numbers.json", "pricing_v1_phone_numbers.json", "trunking_v1.json"):
            with open(f"{spec_dir}/{name}") as handle:
                self.docs.append(json.load(handle))
        self.templates = []
        for doc in self.docs:
            for template, item in doc["paths"].items():
                pattern = "^" + re.sub(r"\\\{[A-Za-z]+\\\}", "[^/]+", re.escape(template)) + "$"
                self.templates.append((re.compile(pattern), template, item, doc))

    def schema(self, method, path, status):
        matches = [t for t in self.templates if t[0].match(path)]
        # Prefer the most literal template (e.g. .../IncomingPhoneNumbers/Local.json over .../{Sid}.json).
        matches.sort(key=lambda t: t[1].count("{"))
        for _, template, item, doc in matches:
            operation = item.get(method.lower())
            if not operation:
                continue
            response = operation["responses"].get(str(status))
            if response is None:
                raise KeyError(f"spec has no {status} for {method} {template}")
            content = response.get("content", {}).get("application/json")
            if content is None:
                return template, None
            return template, inline(content["schema"], doc, set())
        raise KeyError(f"no spec path for {method} {path}")


def inline(node, doc, seen):
    if isinstance(node, list):
        return [inline(item, doc, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        if name in seen:
            raise ValueError(f"recursive $ref {name}")
        resolved = inline(doc["components"]["schemas"][name], doc, seen | {name})
        resolved = dict(resolved)
        resolved["x-component"] = name
        return resolved
    return {key: inline(value, doc, seen) for key, value in node.items()}


def live_adjust(schema):
    """Applies the documented spec-vs-live differences, narrowly, by component/title."""
    schema = copy.deepcopy(schema)
    title = schema.get("title", "")
    if title.startswith("ListAvailablePhoneNumber") and title != "ListAvailablePhoneNumberCountryResponse":
        for key in PAGING_KEYS:
            schema["properties"].pop(key, None)
        item = schema["properties"]["available_phone_numbers"]["items"]
        if not item.get("x-component", "").startswith(AVAILABLE_ITEM_PREFIX):
            raise ValueError("unexpected available number schema")
        caps = item["properties"]["capabilities"]["properties"]
        caps["SMS"] = caps.pop("sms")
        caps["MMS"] = caps.pop("mms")
        for key in ("latitude", "longitude"):
            item["properties"][key] = {"type": "string", "nullable": True, "pattern": COORDINATE}
    if schema.get("x-component", "").startswith(INCOMING_COMPONENT):
        schema["properties"]["subresource_uris"] = {"type": "object"}
    prop = schema.get("properties", {}).get("incoming_phone_numbers")
    if prop and prop["items"].get("x-component", "").startswith(INCOMING_COMPONENT):
        prop["items"]["properties"]["subresource_uris"] = {"type": "object"}
    return schema


def tighten(node):
    """OpenAPI 3.0 → JSON Schema (nullable) plus strictness: all listed properties required, no others."""
    if isinstance(node, list):
        return [tighten(item) for item in node]
    if not isinstance(node, dict):
        return node
    # Twilio marks decimal prices `number` with `x-twilio.overrideType: string`: they are sent as strings.
    override = node.get("x-twilio", {}).get("overrideType") if isinstance(node.get("x-twilio"), dict) else None
    node = {key: tighten(value) for key, value in node.items() if not key.startswith("x-")}
    if override == "string":
        node["type"] = "string"
        node["pattern"] = r"^[0-9]+\.[0-9]+$"
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = list(node["enum"]) + [None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
            return node
    if node.get("type") in ("object", ["object", "null"]) and node.get("properties"):
        node["required"] = sorted(node["properties"].keys())
        node["additionalProperties"] = False
    return node


class Client:
    def __init__(self, bases, account, token, cafile):
        self.bases = {name: url.rstrip("/") for name, url in bases.items()}
        self.auth = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()
        self.context = ssl.create_default_context(cafile=cafile) if cafile else None

    def base_for(self, path):
        """The base URL of the API that serves `path` (a path at a Twilio host)."""
        if path.startswith("/2010-04-01/"):
            return self.bases["api"]
        if path.startswith("/v1/PhoneNumbers"):
            return self.bases["pricing"]
        return self.bases["trunking"]

    def call(self, method, path, form=None, auth=None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.base_for(path) + path, data=data, method=method)
        request.add_header("Authorization", auth or self.auth)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


class Validator:
    def __init__(self, spec, client):
        self.spec = spec
        self.client = client
        self.checker = format_checker()
        self.failures = []
        self.checked = 0

    def validate_body(self, label, body, schema):
        errors = sorted(jsonschema.Draft7Validator(schema, format_checker=self.checker).iter_errors(body),
                        key=lambda e: list(e.path))
        for error in errors[:10]:
            where = "/".join(str(p) for p in error.path)
            self.failures.append(f"{label}: at '{where}': {error.message}")
        self.checked += 1
        return not errors

    def call(self, method, path, form=None, expect=200, auth=None):
        status, raw = self.client.call(method, path, form, auth)
        label = f"{method} {path.split('?')[0]} → {status}"
        if status != expect:
            self.failures.append(f"{label}: expected HTTP {expect}: {raw[:300]!r}")
            return None
        if status >= 400:
            body = json.loads(raw)
            self.validate_body(label, body, ERROR_SCHEMA)
            if body.get("status") != status:
                self.failures.append(f"{label}: body status {body.get('status')} is not the HTTP status")
            return body
        template, schema = self.spec.schema(method, path.split("?")[0], status)
        if schema is None:
            if raw:
                self.failures.append(f"{label}: expected an empty body, got {raw[:100]!r}")
            self.checked += 1
            return None
        body = json.loads(raw)
        self.validate_body(f"{label} [{template}]", body, tighten(live_adjust(schema)))
        return body


def self_test(spec):
    """The tightened schemas must refuse broken bodies; otherwise the whole check would prove nothing."""
    checker = format_checker()
    _, schema = spec.schema("GET", "/2010-04-01/Accounts/AC0/IncomingPhoneNumbers/PN0.json", 200)
    strict = tighten(live_adjust(schema))
    broken = [{}, {"sid": "PN0"}]
    _, search = spec.schema("GET", "/2010-04-01/Accounts/AC0/AvailablePhoneNumbers/US/Local.json", 200)
    search_strict = tighten(live_adjust(search))
    bad_search = {"uri": "/x", "available_phone_numbers": [{"capabilities": {"sms": True}}], "page": 0}
    for body, target in [(b, strict) for b in broken] + [(bad_search, search_strict)]:
        if jsonschema.Draft7Validator(target, format_checker=checker).is_valid(body):
            return f"self-test: a broken body validated: {body}"
    return None


def run(validator, account, gb_bundle):
    v = validator
    api = f"/2010-04-01/Accounts/{account}"
    v.call("GET", f"{api}/AvailablePhoneNumbers.json")
    v.call("GET", f"{api}/AvailablePhoneNumbers/US.json")
    found = {}
    for country, kind in [("US", "Local"), ("US", "TollFree"), ("CA", "Local"), ("CA", "TollFree"),
                          ("GB", "Local"), ("GB", "Mobile"), ("GB", "TollFree")]:
        body = v.call("GET", f"{api}/AvailablePhoneNumbers/{country}/{kind}.json?PageSize=5")
        numbers = [n["phone_number"] for n in (body or {}).get("available_phone_numbers", [])]
        if len(numbers) != 5:
            v.failures.append(f"search {country}/{kind}: expected 5 numbers, got {len(numbers)}")
        found[(country, kind)] = numbers
    v.call("GET", f"{api}/AvailablePhoneNumbers/US/Local.json?AreaCode=415&Contains=STORM&SmsEnabled=true")
    v.call("GET", f"{api}/AvailablePhoneNumbers/US/Mobile.json", expect=404)

    us = found[("US", "Local")]
    bought = v.call("POST", f"{api}/IncomingPhoneNumbers.json",
                    {"PhoneNumber": us[0], "FriendlyName": "schema check", "VoiceUrl": "https://example.com/v"},
                    expect=201)
    v.call("POST", f"{api}/IncomingPhoneNumbers/Local.json", {"PhoneNumber": us[1]}, expect=201)
    v.call("POST", f"{api}/IncomingPhoneNumbers/TollFree.json", {"PhoneNumber": found[("US", "TollFree")][0]},
           expect=201)
    # GB mobile numbers need an Address and a regulatory Bundle, as at Twilio: refused without an Address (21631),
    # with one but without the Bundle approved for GB (21649), bought with both.
    gb_mobile = found[("GB", "Mobile")][0]
    address = "AD" + "a" * 32
    for form, code in (({"PhoneNumber": gb_mobile}, 21631), ({"PhoneNumber": gb_mobile, "AddressSid": address}, 21649)):
        refused = v.call("POST", f"{api}/IncomingPhoneNumbers/Mobile.json", form, expect=400)
        if refused is not None and refused.get("code") != code:
            v.failures.append(f"GB mobile purchase {sorted(form)}: code {refused.get('code')}, expected {code}")
    v.call("POST", f"{api}/IncomingPhoneNumbers/Mobile.json",
           {"PhoneNumber": gb_mobile, "AddressSid": address, "BundleSid": gb_bundle}, expect=201)
    v.call("POST", f"{api}/IncomingPhoneNumbers.json", {"PhoneNumber": "+15005550000"}, expect=400)
    v.call("POST", f"{api}/IncomingPhoneNumbers.json", {"PhoneNumber": "nonsense"}, expect=400)
    page = v.call("GET", f"{api}/IncomingPhoneNumbers.json?PageSize=2")
    if page and page.get("next_page_uri"):
        v.call("GET", page["next_page_uri"])
    else:
        v.failures.append("list: expected a next_page_uri with 4 numbers and PageSize=2")
    v.call("GET", f"{api}/IncomingPhoneNumbers/Local.json")
    sid = (bought or {}).get("sid", "PN" + "0" * 32)
    v.call("GET", f"{api}/IncomingPhoneNumbers/{sid}.json")
    v.call("POST", f"{api}/IncomingPhoneNumbers/{sid}.json", {"FriendlyName": "renamed"})

    v.call("GET", "/v1/PhoneNumbers/Countries")
    for iso in ("US", "CA", "GB"):
        v.call("GET", f"/v1/PhoneNumbers/Countries/{iso}")
    v.call("GET", "/v1/PhoneNumbers/Countries/ZZ", expect=404)

    trunk = v.call("POST", "/v1/Trunks", {"FriendlyName": "schema", "DomainName": "schema-check.pstn.twilio.com"},
                   expect=201)
    tk = (trunk or {}).get("sid", "TK" + "0" * 32)
    v.call("GET", "/v1/Trunks")
    v.call("GET", f"/v1/Trunks/{tk}")
    v.call("POST", f"/v1/Trunks/{tk}", {"FriendlyName": "schema 2"})
    route = v.call("POST", f"/v1/Trunks/{tk}/OriginationUrls",
                   {"SipUrl": "sip:pbx.example.com:5060", "FriendlyName": "schema", "Weight": "10", "Priority": "10",
                    "Enabled": "true"}, expect=201)
    v.call("GET", f"/v1/Trunks/{tk}/OriginationUrls")
    v.call("GET", f"/v1/Trunks/{tk}/OriginationUrls/{(route or {}).get('sid', 'OU' + '0' * 32)}")
    v.call("POST", f"/v1/Trunks/{tk}/OriginationUrls", {"FriendlyName": "no SipUrl", "Weight": "10",
                                                         "Priority": "10", "Enabled": "true"}, expect=400)
    v.call("POST", f"/v1/Trunks/{tk}/PhoneNumbers", {"PhoneNumberSid": sid}, expect=201)
    v.call("GET", f"/v1/Trunks/{tk}/PhoneNumbers")
    v.call("GET", f"/v1/Trunks/{tk}/PhoneNumbers/{sid}")
    v.call("GET", f"{api}/IncomingPhoneNumbers/{sid}.json")
    v.call("DELETE", f"/v1/Trunks/{tk}/PhoneNumbers/{sid}", expect=204)
    v.call("DELETE", f"/v1/Trunks/{tk}", expect=204)
    v.call("DELETE", f"{api}/IncomingPhoneNumbers/{sid}.json", expect=204)
    v.call("GET", f"{api}/IncomingPhoneNumbers/{sid}.json", expect=404)
    bad = "Basic " + base64.b64encode(f"{account}:wrong".encode()).decode()
    v.call("GET", f"{api}/IncomingPhoneNumbers.json", expect=401, auth=bad)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--pricing-url", required=True)
    parser.add_argument("--trunking-url", required=True)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--spec-dir", required=True)
    parser.add_argument("--cafile")
    parser.add_argument("--gb-bundle-sid", required=True, help="a Bundle SID the simulator approves for GB")
    args = parser.parse_args()
    spec = Spec(args.spec_dir)
    problem = self_test(spec)
    if problem:
        print(problem)
        return 1
    bases = {"api": args.api_url, "pricing": args.pricing_url, "trunking": args.trunking_url}
    validator = Validator(spec, Client(bases, args.account_sid, args.auth_token, args.cafile))
    try:
        run(validator, args.account_sid, args.gb_bundle_sid)
    except (IndexError, KeyError, TypeError, ValueError) as error:
        # A broken earlier answer (e.g. an empty search) leaves nothing to continue with.
        validator.failures.append(f"aborted after earlier violations: {error!r}")
    for failure in validator.failures:
        print("FAIL", failure)
    print(f"{validator.checked} responses checked, {len(validator.failures)} violations")
    return 1 if validator.failures or validator.checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
