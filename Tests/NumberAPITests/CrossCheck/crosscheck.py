#!/usr/bin/env python3
"""Cross-checks numberd's Swift protobuf codec against Google's protobuf runtime.

    crosscheck.py write DIR   compile proto/ with protoc, write DIR/<vector>.python.bin for every vector
    crosscheck.py check DIR   parse every DIR/<vector>.swift.bin with Google's runtime and compare with the vector
    crosscheck.py lenient DIR parse every input of noncanonical.json with Google's runtime (unknown fields
                              dropped) and write its canonical bytes to DIR/<name>.python.bin: numberd must read
                              the input with the same meaning; an input marked "google": "refuses" must raise
                              DecodeError instead (and numberd must refuse it too); one marked "numberd": "refuses"
                              is one numberd refuses and Google reads; one marked "disagrees" (saying how) is a
                              known difference: numberd reads it, not as Google does (the Swift test checks both)

Vectors come from vectors.generated.json (see generate_vectors.py). Run by the Swift test CrossCheckTests.
"""
import importlib.util
import json
import os
import sys

from google.protobuf import json_format, unknown_fields

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def load_module(work):
    from grpc_tools import protoc

    out = os.path.join(work, "gen")
    os.makedirs(out, exist_ok=True)
    proto_include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(["protoc", "-I" + os.path.join(ROOT, "proto"), "-I" + proto_include, "--python_out=" + out,
                        "numbers/v1/numbers.proto"])
    if code != 0:
        raise SystemExit(f"protoc failed with {code}")
    # Loaded by path: the package name `numbers` would collide with Python's standard `numbers` module.
    spec = importlib.util.spec_from_file_location("numberd_numbers_pb2", os.path.join(out, "numbers", "v1", "numbers_pb2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalized(value):
    """Drops what proto3 cannot tell from absent in the Swift types: empty sub-messages and zero timestamps."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = normalized(v)
            if v == {} or v == "1970-01-01T00:00:00Z":
                continue
            out[k] = v
        return out
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def lenient(pb, work):
    """What Google's runtime makes of input that is valid but not canonical (mistyped occurrences, groups, ...)."""
    from google.protobuf.message import DecodeError

    cases = json.load(open(os.path.join(HERE, "noncanonical.json"), encoding="utf-8"))
    for case in cases:
        parsed = getattr(pb, case["type"])()
        if case.get("google") == "refuses":
            # Input Google's runtime must refuse (numberd must too): nothing to write.
            try:
                parsed.ParseFromString(bytes.fromhex(case["hex"]))
            except DecodeError:
                continue
            raise SystemExit(f"{case['name']}: Google's runtime parsed input it should refuse")
        parsed.ParseFromString(bytes.fromhex(case["hex"]))
        parsed.DiscardUnknownFields()
        with open(os.path.join(work, case["name"] + ".python.bin"), "wb") as f:
            f.write(parsed.SerializeToString(deterministic=True))
    print(f"crosscheck: {len(cases)} non-canonical inputs parsed")


def main():
    mode, work = sys.argv[1], sys.argv[2]
    pb = load_module(work)
    if mode == "lenient":
        lenient(pb, work)
        return
    vectors = json.load(open(os.path.join(HERE, "vectors.generated.json"), encoding="utf-8"))
    failures = []
    for v in vectors:
        cls = getattr(pb, v["type"])
        expected = json_format.ParseDict(v["value"], cls())
        if mode == "write":
            with open(os.path.join(work, v["name"] + ".python.bin"), "wb") as f:
                f.write(expected.SerializeToString())
            continue
        path = os.path.join(work, v["name"] + ".swift.bin")
        if not os.path.exists(path):
            failures.append(f"{v['name']}: Swift wrote no bytes")
            continue
        parsed = cls()
        try:
            parsed.ParseFromString(open(path, "rb").read())
        except Exception as error:  # noqa: BLE001 - report any parse failure as a mismatch
            failures.append(f"{v['name']}: Google's runtime cannot parse Swift's bytes: {error}")
            continue
        if len(unknown_fields.UnknownFieldSet(parsed)) > 0:
            failures.append(f"{v['name']}: Swift wrote fields the schema does not have")
        got = normalized(json_format.MessageToDict(parsed))
        want = normalized(json_format.MessageToDict(expected))
        if got != want:
            failures.append(f"{v['name']}: parsed {json.dumps(got, ensure_ascii=False)}\n"
                            f"    expected {json.dumps(want, ensure_ascii=False)}")
    if mode == "check":
        for failure in failures:
            print("MISMATCH", failure)
        print(f"crosscheck: {len(vectors) - len(failures)} of {len(vectors)} vectors match")
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
