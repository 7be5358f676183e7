#!/usr/bin/env python3
"""Builds the cross-check vectors shared by the Swift test and Google's protobuf runtime.

From vectors.json (hand-picked edge cases) plus, for EVERY message type of numbers.proto, an empty vector and a fully
populated one (every field set: unicode strings, negative and extreme numbers, repeated fields with two entries, maps
with two entries, nested messages populated recursively), it writes:
  - vectors.generated.json: (name, type, proto3-JSON value) read by crosscheck.py;
  - Vectors.swift: the same values as Swift literals of the NumberAPI types.

    python3 Tests/NumberAPITests/CrossCheck/generate_vectors.py [--check]
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "proto", "tools"))
import generate_swift  # noqa: E402

from google.protobuf import descriptor_pb2  # noqa: E402

F = descriptor_pb2.FieldDescriptorProto
FD = generate_swift.descriptor_set()
MESSAGES = {m.name: m for m in FD.message_type}
ENUMS = {e.name: e for e in FD.enum_type}


def json_name(field):
    return field.json_name


def is_map(field):
    short = field.type_name.split(".")[-1]
    if field.label != F.LABEL_REPEATED or not field.type_name:
        return None
    for m in FD.message_type:
        for nested in m.nested_type:
            if nested.name == short and nested.options.map_entry:
                return nested
    return None


def full_value(message, depth=0):
    """A deterministic value with every field set to something non-default."""
    out = {}
    for i, field in enumerate(message.field):
        seed = i + 1 + depth * 100
        entry = is_map(field)
        if entry is not None:
            out[json_name(field)] = {f"key-{seed}": f"välue {seed}", "": "🔑"}
            continue
        value = scalar_or_message(field, seed, depth)
        if value is None:
            continue
        out[json_name(field)] = [value, scalar_or_message(field, seed + 7, depth)] if field.label == F.LABEL_REPEATED else value
    return out


def scalar_or_message(field, seed, depth):
    t = field.type
    if t == F.TYPE_STRING:
        return f"{field.name} #{seed} — ünïcødé ☎"
    if t == F.TYPE_BOOL:
        return True
    if t == F.TYPE_INT64:
        return str(-(10**15) - seed if seed % 2 else 9223372036854775807 - seed)
    if t == F.TYPE_INT32:
        return -seed if seed % 2 else 2147483647 - seed
    if t == F.TYPE_UINT64:
        return str(18446744073709551615 - seed if seed % 2 else 2**63 + seed)
    if t == F.TYPE_ENUM:
        enum = ENUMS[field.type_name.split(".")[-1]]
        return enum.value[-1].name
    if t == F.TYPE_MESSAGE:
        if field.type_name == ".google.protobuf.Timestamp":
            return f"20{20 + seed % 10}-0{1 + seed % 9}-2{seed % 9}T0{seed % 10}:30:15.{'5' if seed % 2 else '25'}Z"
        if depth >= 2:
            return {}
        return full_value(MESSAGES[field.type_name.split(".")[-1]], depth + 1)
    raise SystemExit(f"unsupported field type {t} in {field.name}")


def vectors():
    listed = json.load(open(os.path.join(HERE, "vectors.json"), encoding="utf-8"))["vectors"]
    out = []
    for name in sorted(MESSAGES):
        if MESSAGES[name].options.map_entry:
            continue
        out.append({"name": f"empty.{name}", "type": name, "value": {}})
        out.append({"name": f"full.{name}", "type": name, "value": full_value(MESSAGES[name])})
    out.extend({"name": v["name"], "type": v["type"], "value": v["value"]} for v in listed)
    return out


# ---- Swift literals ----------------------------------------------------------------------------------------------

def swift_string(s):
    out = []
    for ch in s:
        if ch in "\\\"":
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def swift_timestamp(text):
    dt = datetime.datetime.strptime(text.replace("Z", "+0000").split(".")[0] + ("+0000" if "." in text else ""),
                                    "%Y-%m-%dT%H:%M:%S%z")
    seconds = int(dt.timestamp())
    frac = text.split(".")[1].rstrip("Z") if "." in text else "0"
    fraction = float("0." + frac)
    return f"Date(timeIntervalSince1970: {seconds}{'+' + repr(fraction) if fraction else ''})"


def swift_enum(field, value):
    enum = ENUMS[field.type_name.split(".")[-1]]
    if isinstance(value, int):
        return f"{enum.name}(rawValue: {value})"
    number = next(v.number for v in enum.value if v.name == value)
    return f"{enum.name}(rawValue: {number})"


def swift_scalar(field, value):
    t = field.type
    if t == F.TYPE_STRING:
        return swift_string(value)
    if t == F.TYPE_BOOL:
        return "true" if value else "false"
    if t in (F.TYPE_INT64, F.TYPE_INT32, F.TYPE_UINT64):
        return str(int(value))
    if t == F.TYPE_ENUM:
        return swift_enum(field, value)
    if field.type_name == ".google.protobuf.Timestamp":
        return swift_timestamp(value)
    return swift_message(MESSAGES[field.type_name.split(".")[-1]], value)


def swift_message(message, value):
    args = []
    for field in message.field:
        if field.json_name not in value:
            continue
        v = value[field.json_name]
        label = generate_swift.camel(field.name)
        entry = is_map(field)
        if entry is not None:
            items = ", ".join(f"{swift_string(k)}: {swift_string(x)}" for k, x in sorted(v.items()))
            args.append(f"{label}: [{items}]" if items else f"{label}: [:]")
        elif field.label == F.LABEL_REPEATED:
            args.append(f"{label}: [{', '.join(swift_scalar(field, x) for x in v)}]")
        else:
            args.append(f"{label}: {swift_scalar(field, v)}")
    return f"{message.name}({', '.join(args)})"


def swift_file(vs):
    lines = [
        "// Generated by Tests/NumberAPITests/CrossCheck/generate_vectors.py from vectors.json and numbers.proto.",
        "// Do not edit.",
        "",
        "import Foundation",
        "import NumberAPI",
        "",
        "/// Every cross-check vector, by name, as a NumberAPI value.",
        "let crossCheckVectors: [CrossCheckVector] = [",
    ]
    for v in vs:
        lines.append(f"    CrossCheckVector({swift_string(v['name'])}, {swift_message(MESSAGES[v['type']], v['value'])}),")
    lines.append("]")
    lines.append("")
    return "\n".join(lines)


def main():
    vs = vectors()
    files = {
        "vectors.generated.json": json.dumps(vs, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
        "Vectors.swift": swift_file(vs),
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "Vectors.swift")
        open(path, "w", encoding="utf-8").write(files["Vectors.swift"])
        subprocess.run(["swift", "format", "format", "-i", "--configuration", os.path.join(ROOT, ".swift-format"), path],
                       check=True)
        files["Vectors.swift"] = open(path, encoding="utf-8").read()
    stale = []
    for name, text in files.items():
        path = os.path.join(HERE, name)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if "--check" not in sys.argv:
                open(path, "w", encoding="utf-8").write(text)
    if "--check" in sys.argv and stale:
        print("out of date (run python3 Tests/NumberAPITests/CrossCheck/generate_vectors.py):", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
