#!/usr/bin/env python3
"""Generates Sources/NumberAPI/Generated/*.swift (messages, enums, methods) and the typed methods of the client
(Sources/NumberClient/Generated/) from proto/numbers/v1/numbers.proto.

The Swift message types are plain Codable structs whose `CodingKeys` raw values are the proto field numbers; the
NumberWire codec turns them into protobuf wire bytes. Generating them keeps the Swift side an exact mirror of the
contract. `.ci/run` regenerates and fails if the committed files differ.

    python3 proto/tools/generate_swift.py            # rewrite the Swift files
    python3 proto/tools/generate_swift.py --check    # exit 1 if they are out of date
"""
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO = "numbers/v1/numbers.proto"
OUT_DIR = os.path.join(ROOT, "Sources", "NumberAPI", "Generated")
F = descriptor_pb2.FieldDescriptorProto

SCALARS = {
    F.TYPE_STRING: ("String", '""'),
    F.TYPE_INT64: ("Int64", "0"),
    F.TYPE_INT32: ("Int32", "0"),
    F.TYPE_UINT64: ("UInt64", "0"),
    F.TYPE_UINT32: ("UInt32", "0"),
    F.TYPE_BOOL: ("Bool", "false"),
    F.TYPE_DOUBLE: ("Double", "0"),
    F.TYPE_FLOAT: ("Float", "0"),
    F.TYPE_BYTES: ("[UInt8]", "[]"),
}


def descriptor_set():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.join(ROOT, "proto"),
             "--include_source_info", "--descriptor_set_out=" + out, PROTO],
            check=True,
        )
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    return fds.file[0]


def camel(name, upper=False):
    parts = name.lower().split("_")
    s = parts[0] + "".join(p.capitalize() for p in parts[1:])
    return s[0].upper() + s[1:] if upper else s


SWIFT_KEYWORDS = {"default", "internal", "public", "private", "protocol", "class", "struct", "enum", "case"}


def comments(fd):
    """Maps a source path (tuple) to its comment text."""
    out = {}
    for loc in fd.source_code_info.location:
        text = (loc.leading_comments or loc.trailing_comments).strip()
        if text:
            out[tuple(loc.path)] = text
    return out


def doc(lines, text, indent):
    for line in text.splitlines():
        lines.append(f"{indent}/// {line.strip()}".rstrip())


def field_type(field, fd, maps):
    if field.HasField("oneof_index") and not field.proto3_optional:
        # A real oneof's members are written even at their default and only one at a time: the plain-field code below
        # would drop a member set to its default and could not tell which one is set.
        raise SystemExit(f"{field.name}: oneof members have no generated code; use separate fields (or extend it)")
    if field.type_name:
        short = field.type_name.split(".")[-1]
        if field.type_name == ".google.protobuf.Timestamp":
            base, default = "Date", "Date(timeIntervalSince1970: 0)"
        elif short in maps:
            k, v = maps[short]
            return f"[{k}: {v}]", "[:]"
        elif field.type == F.TYPE_ENUM:
            base, default = short, f"{short}(rawValue: 0)"
        else:
            base, default = short, f"{short}()"
    else:
        base, default = SCALARS[field.type]
    if field.label == F.LABEL_REPEATED:
        return f"[{base}]", "[]"
    if field.proto3_optional:
        return f"{base}?", "nil"
    return base, default


READERS = {
    F.TYPE_STRING: "string", F.TYPE_INT64: "int64", F.TYPE_INT32: "int32", F.TYPE_UINT64: "uint64",
    F.TYPE_UINT32: "uint32", F.TYPE_BOOL: "bool", F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float",
    F.TYPE_BYTES: "bytes",
}


def field_code(field, maps):
    """The (write statement, read expression) of one field in the generated ProtoMessage conformance."""
    name, n = camel(field.name), field.number
    short = field.type_name.split(".")[-1] if field.type_name else None
    repeated = field.label == F.LABEL_REPEATED
    optional = field.proto3_optional
    if short in maps:
        if maps[short] != ("String", "String"):
            raise SystemExit(f"{field.name}: only map<string, string> has generated code; extend ProtoFieldWriter")
        return f"writer.write({name}, field: {n})", f"try reader.stringMap({n})"
    if field.type_name == ".google.protobuf.Timestamp":
        if repeated:
            raise SystemExit(f"{field.name}: repeated Timestamp has no generated code")
        read = f"try reader.date({n})"
        present = f"try reader.contains({n}, .lengthDelimited)"
        return f"try writer.write({name}, field: {n})", (f"{present} ? {read} : nil" if optional else read)
    if field.type == F.TYPE_MESSAGE:
        # Non-generic writer/reader calls: generic ones cannot be specialised across the module boundary.
        if repeated:
            write = (f"for element in {name} {{ try writer.writeMessage(field: {n}) "
                     f"{{ try element.encodeProtoFields(to: $0) }} }}")
            read = f"try reader.messageReaders({n}).map {{ try {short}(protoFields: $0) }}"
            return write, read
        write = f"try writer.writeMessage(field: {n}) {{ try {name}.encodeProtoFields(to: $0) }}"
        read = f"try {short}(protoFields: reader.messageReader({n}))"
        if optional:
            write = f"if let {name} {{ {write} }}"
            return write, f"try reader.contains({n}, .lengthDelimited) ? {read} : nil"
        return write, read
    if field.type == F.TYPE_ENUM:
        if repeated:
            raise SystemExit(f"{field.name}: repeated enums (packed) have no generated code")
        read = f"{short}(rawValue: try reader.int32({n}))"
        if optional:
            return f"writer.write({name}?.rawValue, field: {n})", f"try reader.contains({n}, .varint) ? {read} : nil"
        return f"writer.write({name}.rawValue, field: {n})", read
    if repeated:
        if field.type != F.TYPE_STRING:
            raise SystemExit(f"{field.name}: repeated scalars (packed) have no generated code")
        return f"writer.write({name}, field: {n})", f"try reader.strings({n})"
    read = f"try reader.{READERS[field.type]}({n})"
    present = f"try reader.contains({n}, .{presence_kind(field.type)})"
    return f"writer.write({name}, field: {n})", (f"{present} ? {read} : nil" if optional else read)


def presence_kind(field_type):
    """The ProtoFieldKind (wire type) an optional scalar's occurrences must have to make it present."""
    if field_type in (F.TYPE_DOUBLE, F.TYPE_FIXED64, F.TYPE_SFIXED64):
        return "fixed64"
    if field_type in (F.TYPE_FLOAT, F.TYPE_FIXED32, F.TYPE_SFIXED32):
        return "fixed32"
    if field_type in (F.TYPE_STRING, F.TYPE_BYTES):
        return "lengthDelimited"
    return "varint"


def proto_message_lines(fd, maps):
    lines = ["// Generated by proto/tools/generate_swift.py from proto/numbers/v1/numbers.proto. Do not edit.", "",
             "import Foundation", "import NumberWire", ""]
    for m in fd.message_type:
        lines.append(f"extension {m.name}: ProtoMessage {{")
        lines.append("    /// Writes the fields as the Codable conformance does, without Codable's containers.")
        codes = [(camel(f.name),) + field_code(f, maps) for f in m.field]
        if codes:
            lines.append("    public func encodeProtoFields(to writer: ProtoFieldWriter) throws {")
            for _, write, _ in codes:
                lines.append(f"        {write}")
            lines.append("    }")
        else:
            lines.append("    public func encodeProtoFields(to writer: ProtoFieldWriter) throws {}")
        lines.append("")
        lines.append("    /// Reads the fields as the Codable conformance does, without Codable's containers.")
        lines.append("    public init(protoFields reader: ProtoFieldReader) throws {")
        if codes:
            lines.append("        self.init(")
            for k, (name, _, read) in enumerate(codes):
                comma = "," if k < len(codes) - 1 else ""
                lines.append(f"            {name}: {read}{comma}")
            lines.append("        )")
        else:
            lines.append("        self.init()")
        lines.append("    }")
        lines.append("}")
        lines.append("")
    return lines


def generate(fd):
    notes = comments(fd)
    maps = {}
    for m in fd.message_type:
        for nested in m.nested_type:
            if nested.options.map_entry:
                k = SCALARS[nested.field[0].type][0]
                v = field_type(nested.field[1], fd, {})[0]
                maps[nested.name] = (k, v)
    files = {}
    enum_lines = ["// Generated by proto/tools/generate_swift.py from proto/numbers/v1/numbers.proto. Do not edit.", ""]
    for i, e in enumerate(fd.enum_type):
        prefix = e.name
        # NUMBER_TYPE_ from NumberType
        upper_prefix = "".join("_" + c if c.isupper() else c for c in prefix).lstrip("_").upper() + "_"
        if (5, i) in notes:
            doc(enum_lines, notes[(5, i)], "")
        else:
            enum_lines.append(f"/// `numbers.v1.{e.name}`: an open enum (unknown values from newer peers are kept).")
        enum_lines.append(f"public struct {e.name}: ProtoEnum {{")
        enum_lines.append("    public var rawValue: Int32")
        enum_lines.append("")
        enum_lines.append("    /// Wraps a raw value, known or not.")
        enum_lines.append("    public init(rawValue: Int32) { self.rawValue = rawValue }")
        enum_lines.append("")
        for j, v in enumerate(e.value):
            name = v.name[len(upper_prefix):] if v.name.startswith(upper_prefix) else v.name
            swift = camel(name)
            if swift in SWIFT_KEYWORDS:
                swift = f"`{swift}`"
            text = notes.get((5, i, 2, j), f"`{v.name}`")
            doc(enum_lines, text, "    ")
            enum_lines.append(f"    public static let {swift} = {e.name}(rawValue: {v.number})")
        enum_lines.append("")
        enum_lines.append("    /// Every value this version knows, for names in errors, tables and JSON.")
        enum_lines.append("    public static let known: [(value: Self, name: String)] = [")
        for v in e.value:
            name = v.name[len(upper_prefix):] if v.name.startswith(upper_prefix) else v.name
            enum_lines.append(f"        (.{camel(name)}, \"{v.name}\"),")
        enum_lines.append("    ]")
        enum_lines.append("}")
        enum_lines.append("")
    files["Enums.swift"] = enum_lines

    msg_lines = ["// Generated by proto/tools/generate_swift.py from proto/numbers/v1/numbers.proto. Do not edit.", "",
                 "import Foundation", ""]
    for i, m in enumerate(fd.message_type):
        if (4, i) in notes:
            doc(msg_lines, notes[(4, i)], "")
        else:
            msg_lines.append(f"/// `numbers.v1.{m.name}`.")
        msg_lines.append(f"public struct {m.name}: Codable, Sendable, Hashable {{")
        props = []
        for j, fld in enumerate(m.field):
            t, default = field_type(fld, fd, maps)
            name = camel(fld.name)
            text = notes.get((4, i, 2, j), f"Field {fld.number}, `{fld.name}`.")
            doc(msg_lines, text, "    ")
            msg_lines.append(f"    public var {name}: {t}")
            props.append((name, t, default, fld.number))
        if props:
            msg_lines.append("")
        msg_lines.append("    /// Creates the message; omitted fields take their proto3 defaults.")
        if props:
            msg_lines.append("    public init(")
            for k, (name, t, default, _) in enumerate(props):
                comma = "," if k < len(props) - 1 else ""
                msg_lines.append(f"        {name}: {t} = {default}{comma}")
            msg_lines.append("    ) {")
            for name, _, _, _ in props:
                msg_lines.append(f"        self.{name} = {name}")
            msg_lines.append("    }")
            msg_lines.append("")
            msg_lines.append("    enum CodingKeys: Int, CodingKey {")
            for name, _, _, number in props:
                msg_lines.append(f"        case {name} = {number}")
            msg_lines.append("    }")
        else:
            msg_lines.append("    public init() {}")
        msg_lines.append("}")
        msg_lines.append("")
    files["Messages.swift"] = msg_lines
    files["Messages+ProtoMessage.swift"] = proto_message_lines(fd, maps)

    svc = fd.service[0]
    m_lines = ["// Generated by proto/tools/generate_swift.py from proto/numbers/v1/numbers.proto. Do not edit.", "",
               f"/// The methods of `{fd.package}.{svc.name}`, with their wire paths and message types."]
    m_lines.append("public enum NumbersMethods {")
    for k, meth in enumerate(svc.method):
        text = notes.get((6, 0, 2, k), f"`{meth.name}`.")
        doc(m_lines, text, "    ")
        req = meth.input_type.split(".")[-1]
        resp = meth.output_type.split(".")[-1]
        m_lines.append(f"    public static let {meth.name[0].lower() + meth.name[1:]} = MethodDescriptor<{req}, {resp}>(")
        m_lines.append(f"        service: \"{fd.package}.{svc.name}\", method: \"{meth.name}\")")
    m_lines.append("")
    m_lines.append("    /// Every method's full path (\"/numbers.v1.Numbers/SearchNumbers\"), in the order of the `.proto`.")
    m_lines.append("    public static let allPaths: [String] = [")
    for meth in svc.method:
        m_lines.append(f"        {meth.name[0].lower() + meth.name[1:]}.path,")
    m_lines.append("    ]")
    m_lines.append("}")
    m_lines.append("")
    files["Methods.swift"] = m_lines

    c_lines = ["// Generated by proto/tools/generate_swift.py from proto/numbers/v1/numbers.proto. Do not edit.", "",
               "import NumberAPI", "", "extension NumbersClient {"]
    for k, meth in enumerate(svc.method):
        text = notes.get((6, 0, 2, k), f"Calls `{meth.name}`.")
        doc(c_lines, text, "    ")
        req = meth.input_type.split(".")[-1]
        resp = meth.output_type.split(".")[-1]
        name = meth.name[0].lower() + meth.name[1:]
        c_lines.append(f"    public func {name}(_ request: {req}, options: CallOptions = CallOptions()) async throws -> {resp} {{")
        c_lines.append(f"        try await call(NumbersMethods.{name}, request, options: options)")
        c_lines.append("    }")
        c_lines.append("")
    c_lines.append("}")
    c_lines.append("")
    files["../../NumberClient/Generated/NumbersClient+Methods.swift"] = c_lines
    return {name: "\n".join(lines) for name, lines in files.items()}


def formatted(files):
    """Runs swift-format over the generated text so it passes `swift format lint --strict` like hand-written code."""
    with tempfile.TemporaryDirectory() as tmp:
        flat = {name: os.path.join(tmp, os.path.basename(name)) for name in files}
        for name, text in files.items():
            with open(flat[name], "w") as f:
                f.write(text)
        subprocess.run(["swift", "format", "format", "-i", "--configuration", os.path.join(ROOT, ".swift-format")]
                       + list(flat.values()), check=True)
        return {name: open(flat[name]).read() for name in files}


def main():
    files = formatted(generate(descriptor_set()))
    check = "--check" in sys.argv
    stale = []
    for name, text in files.items():
        path = os.path.normpath(os.path.join(OUT_DIR, name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        old = open(path).read() if os.path.exists(path) else None
        if old != text:
            stale.append(path)
            if not check:
                with open(path, "w") as f:
                    f.write(text)
    if check and stale:
        print("out of date (run python3 proto/tools/generate_swift.py):", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
