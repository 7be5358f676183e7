import Foundation

/// The JSON decoder of journal records and snapshots, the mirror of ``JSONLineEncoder``: it reads what that encoder
/// and Foundation's `JSONEncoder` (default strategies, as older numberd versions wrote snapshots) write, as the same
/// values `JSONDecoder` (default strategies) would give. Foundation's `JSONDecoder` took 90 % of a snapshot reload
/// (59 s at 1M owned numbers), most of it in its per-value container machinery.
///
/// Two passes: the bytes are first checked against JSON's grammar and laid out as a flat *tape* of tokens (an object
/// or array token knows where it ends, so a value is skipped in one step), then `Decodable` values read the tape.
/// A keyed container finds a member by comparing key bytes, starting where the previous look-up in the same object
/// ended: synthesized `Decodable` asks for keys in declaration order and `Dictionary` in member order, which is the
/// order both encoders write, so a look-up usually compares one key.
///
/// Strict where JSON is: whitespace only between tokens, no trailing bytes, no leading zeros, control characters
/// escaped, valid UTF-8 in every string (read or not, as `JSONDecoder` checks), at most ``depthMax`` nested
/// containers. Member names compare as Swift strings, as in `JSONDecoder` (canonical equivalence; ASCII names without
/// escapes, all that the encoders write, compare as bytes). Stricter than `JSONDecoder` in two ways: an object naming
/// a member twice is refused (neither encoder writes one, and the two decoders could read different occurrences), and
/// an integer written with a fraction or an exponent must be exact in decimal as well as through a `Double` (which
/// turns 1.0000000000000001 into 1). Dates are read as `Date`'s own `Decodable` (seconds since
/// 2001), the `.deferredToDate` default. `Data`, `URL` and `Decimal`, whose `JSONDecoder` forms differ from their
/// `Decodable` conformances, are refused, as the encoder refuses them. Errors are `DecodingError`s naming the byte
/// offset; malformed input never traps.
package enum JSONLineDecoder {
    /// Deepest nesting of objects and arrays accepted (64; records and snapshots nest under ten deep). Parsing and
    /// decoding recurse once per level, so the bound also bounds their stack use.
    package static let depthMax = 64

    /// Longest input accepted (4 294 967 294 bytes, 4 GiB − 2): token offsets are 32-bit.
    package static let inputBytesMax = Int(UInt32.max) - 1

    /// Decodes a `T` from the JSON in `bytes`.
    package static func decode<T: Decodable>(
        _ type: T.Type, from bytes: ArraySlice<UInt8>, readingDirectly: Bool = true
    ) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0, readingDirectly: readingDirectly) }
    }

    /// Decodes a `T` from the JSON in `bytes`. Values that read themselves (``JSONLineReadable``) do so unless
    /// `readingDirectly` is false; the result is the same either way (the tests and the fuzzers compare them).
    package static func decode<T: Decodable>(
        _ type: T.Type, from bytes: UnsafeRawBufferPointer, readingDirectly: Bool = true
    ) throws -> T {
        let state = JSONTapeState(tape: try JSONTape(bytes), readingDirectly: readingDirectly)
        return try state.decodeValue(T.self, at: 0, depth: 0)
    }
}

// MARK: - The tape

/// One JSON value on the tape.
struct JSONToken {
    enum Kind: UInt8 {
        /// `string`: ASCII, no escapes (bytes equal exactly when the strings are equal); `unicodeString`: other
        /// characters, no escapes; `escapedString`: with escapes. The last two compare as Swift strings (canonical
        /// equivalence), as `JSONDecoder` compares member names.
        case object, array, string, unicodeString, escapedString, number, `true`, `false`, null
    }

    var kind: Kind
    /// For scalars and strings: the byte range of the value (a string's without its quotes). For objects and
    /// arrays: `start` is the offset of the opening bracket, `end` the index of the token after the container.
    var start: UInt32
    var end: UInt32
    /// Members of an object, elements of an array.
    var count: UInt32
}

/// The tape of one JSON text: every value in document order, an object's members as key, value, key, value.
struct JSONTape {
    let bytes: UnsafeRawBufferPointer
    private(set) var tokens: [JSONToken] = []
    private var offset = 0
    /// The key tokens of the object being checked for repeated names (reused from object to object).
    private var names: [Int] = []

    init(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count <= JSONLineDecoder.inputBytesMax else {
            throw Self.error("input longer than \(JSONLineDecoder.inputBytesMax) bytes", at: 0)
        }
        self.bytes = bytes
        tokens.reserveCapacity(min(bytes.count / 4 + 8, 1 << 20))
        try parseValue(depth: 0)
        skipWhitespace()
        guard offset == bytes.count else { throw Self.error("bytes after the JSON value", at: offset) }
        tokens.append(JSONToken(kind: .null, start: UInt32(bytes.count), end: UInt32(bytes.count), count: 0))
    }

    /// A `null` after the document's value, for a super-decoder of a missing member (`JSONDecoder` gives one over
    /// null).
    var nullIndex: Int { tokens.count - 1 }

    static func error(_ message: String, at offset: Int) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "\(message) at byte \(offset)"))
    }

    /// The index of the token after the value at `index`.
    @inline(__always)
    func after(_ index: Int) -> Int {
        let token = tokens[index]
        switch token.kind {
        case .object, .array: return Int(token.end)
        default: return index + 1
        }
    }

    private mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws {
        skipWhitespace()
        guard offset < bytes.count else { throw Self.error("unexpected end of input", at: offset) }
        switch bytes[offset] {
        case UInt8(ascii: "{"): try parseContainer(isObject: true, depth: depth + 1)
        case UInt8(ascii: "["): try parseContainer(isObject: false, depth: depth + 1)
        case UInt8(ascii: "\""): try parseString()
        case UInt8(ascii: "t"): try parseLiteral("true", .true)
        case UInt8(ascii: "f"): try parseLiteral("false", .false)
        case UInt8(ascii: "n"): try parseLiteral("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber()
        default: throw Self.error("unexpected byte \(bytes[offset])", at: offset)
        }
    }

    private mutating func parseContainer(isObject: Bool, depth: Int) throws {
        guard depth <= JSONLineDecoder.depthMax else {
            throw Self.error("nested deeper than \(JSONLineDecoder.depthMax)", at: offset)
        }
        let index = tokens.count
        tokens.append(JSONToken(kind: isObject ? .object : .array, start: UInt32(offset), end: 0, count: 0))
        let closing = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
        offset += 1
        skipWhitespace()
        var count: UInt32 = 0
        if offset < bytes.count, bytes[offset] == closing {
            offset += 1
        } else {
            while true {
                if isObject {
                    skipWhitespace()
                    guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else {
                        throw Self.error("expected a member name", at: offset)
                    }
                    try parseString()
                    skipWhitespace()
                    guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else {
                        throw Self.error("expected ':'", at: offset)
                    }
                    offset += 1
                }
                try parseValue(depth: depth)
                count += 1
                skipWhitespace()
                guard offset < bytes.count else { throw Self.error("unexpected end of input", at: offset) }
                if bytes[offset] == UInt8(ascii: ",") {
                    offset += 1
                } else if bytes[offset] == closing {
                    offset += 1
                    break
                } else {
                    throw Self.error("expected ',' or '\(Character(Unicode.Scalar(closing)))'", at: offset)
                }
            }
        }
        tokens[index].end = UInt32(tokens.count)
        tokens[index].count = count
        if isObject && count > 1 { try checkDistinctNames(object: index) }
    }

    /// Refuses an object that names a member twice: neither encoder writes one, and `JSONDecoder` and a look-up
    /// here could read different occurrences.
    private mutating func checkDistinctNames(object: Int) throws {
        names.removeAll(keepingCapacity: true)
        var asStrings = false
        var keyIndex = object + 1
        while keyIndex < tokens.count {
            names.append(keyIndex)
            asStrings = asStrings || tokens[keyIndex].kind != .string
            keyIndex = after(keyIndex + 1)
        }
        let duplicate: Int?
        if asStrings {
            // Names equal as strings are one name: "a" and "\u0061", "é" composed and decomposed.
            var seen = Set<String>()
            duplicate = try names.first { !seen.insert(try stringValue(at: $0)).inserted }
        } else if names.count <= 16 {
            duplicate = names.indices.first { later in
                (0..<later).contains { sameRawName(names[$0], names[later]) }
            }.map { names[$0] }
        } else {
            var seen = Set<RawName>()
            seen.reserveCapacity(names.count)
            duplicate = names.first { !seen.insert(RawName(bytes: rawBytes(at: $0))).inserted }
        }
        if let duplicate {
            throw Self.error("a member named twice in one object", at: Int(tokens[duplicate].start))
        }
    }

    /// The bytes of a string token between its quotes (only a string token's `start..<end` is a byte range).
    func rawBytes(at index: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(tokens[index].start)..<Int(tokens[index].end)])
    }

    private func sameRawName(_ first: Int, _ second: Int) -> Bool {
        let a = tokens[first]
        let b = tokens[second]
        guard a.end - a.start == b.end - b.start else { return false }
        return rawBytes(at: first).elementsEqual(rawBytes(at: second))
    }

    /// The string a string token stands for (its kind checked by the caller): the tape checked its UTF-8 and escapes.
    func stringValue(at index: Int) throws -> String {
        tokens[index].kind == .escapedString
            ? try Self.unescape(rawBytes(at: index), at: Int(tokens[index].start))
            : String(decoding: rawBytes(at: index), as: UTF8.self)
    }

    /// A member name's (or a plain ASCII string's) bytes, hashed and compared as bytes.
    struct RawName: Hashable {
        let bytes: UnsafeRawBufferPointer

        static func == (lhs: RawName, rhs: RawName) -> Bool { lhs.bytes.elementsEqual(rhs.bytes) }
        func hash(into hasher: inout Hasher) { hasher.combine(bytes: bytes) }
    }

    /// Checks a string (escapes, UTF-8: every string, read or not, as `JSONDecoder` does) and appends its token.
    private mutating func parseString() throws {
        offset += 1
        let start = offset
        var escaped = false
        var ascii = true
        while true {
            guard offset < bytes.count else { throw Self.error("unterminated string", at: start - 1) }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") { break }
            if byte >= 0x80 { ascii = false }
            if byte < 0x20 { throw Self.error("unescaped control character in a string", at: offset) }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                guard offset + 1 < bytes.count else { throw Self.error("unterminated escape", at: offset) }
                switch bytes[offset + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    offset += 2
                case UInt8(ascii: "u"):
                    guard offset + 5 < bytes.count, (2...5).allSatisfy({ Self.hexValue(bytes[offset + $0]) != nil })
                    else { throw Self.error("invalid \\u escape", at: offset) }
                    offset += 6
                default:
                    throw Self.error("invalid escape", at: offset)
                }
                continue
            }
            offset += 1
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<offset])
        if !ascii, !Self.isValidUTF8(raw) { throw Self.error("a string that is not valid UTF-8", at: start) }
        if escaped { _ = try Self.unescape(raw, at: start) }
        tokens.append(
            JSONToken(
                kind: escaped ? .escapedString : ascii ? .string : .unicodeString, start: UInt32(start),
                end: UInt32(offset), count: 0))
        offset += 1
    }

    /// Whether `raw` is well-formed UTF-8 (no overlong forms, surrogates or values above U+10FFFF).
    static func isValidUTF8(_ raw: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index < raw.count {
            let lead = raw[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: (length, low) = (3, 0xA0)
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: (length, high) = (3, 0x9F)
            case 0xF0: (length, low) = (4, 0x90)
            case 0xF1...0xF3: length = 4
            case 0xF4: (length, high) = (4, 0x8F)
            default: return false
            }
            guard index + length <= raw.count, (low...high).contains(raw[index + 1]) else { return false }
            for next in (index + 2)..<(index + length) where raw[next] & 0xC0 != 0x80 { return false }
            index += length
        }
        return true
    }

    /// The string an escaped JSON string's bytes (checked by the tape: escape shapes, UTF-8) stand for; throws for a
    /// `\u` escape of a lone surrogate.
    static func unescape(_ raw: UnsafeRawBufferPointer, at start: Int) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var position = 0
        func hex4(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 << 4 | hexValue(raw[at + $1])! }
        }
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                position += 1
                continue
            }
            let kind = raw[position + 1]
            position += 2
            switch kind {
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(position)
                position += 4
                if (0xD800..<0xDC00).contains(scalar), position + 6 <= raw.count,
                    raw[position] == UInt8(ascii: "\\"), raw[position + 1] == UInt8(ascii: "u")
                {
                    let low = hex4(position + 2)
                    if (0xDC00..<0xE000).contains(low) {
                        position += 6
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw error("a lone surrogate in a \\u escape", at: start + position - 6)
                }
                bytes.append(contentsOf: String(Character(unicode)).utf8)
            default: bytes.append(kind)  // " \ /
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    private mutating func parseLiteral(_ literal: StaticString, _ kind: JSONToken.Kind) throws {
        let count = literal.utf8CodeUnitCount
        guard offset + count <= bytes.count,
            (0..<count).allSatisfy({ bytes[offset + $0] == literal.utf8Start[$0] })
        else { throw Self.error("invalid literal", at: offset) }
        tokens.append(JSONToken(kind: kind, start: UInt32(offset), end: UInt32(offset + count), count: 0))
        offset += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func parseNumber() throws {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, Self.isDigit(bytes[offset]) else { throw Self.error("invalid number", at: start) }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
        } else {
            while offset < bytes.count, Self.isDigit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard offset < bytes.count, Self.isDigit(bytes[offset]) else {
                throw Self.error("invalid number", at: start)
            }
            while offset < bytes.count, Self.isDigit(bytes[offset]) { offset += 1 }
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            guard offset < bytes.count, Self.isDigit(bytes[offset]) else {
                throw Self.error("invalid number", at: start)
            }
            while offset < bytes.count, Self.isDigit(bytes[offset]) { offset += 1 }
        }
        tokens.append(JSONToken(kind: .number, start: UInt32(start), end: UInt32(offset), count: 0))
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

// MARK: - Reading values from the tape

/// One decode call: the tape and, per nesting depth, where the last member look-up ended.
final class JSONTapeState {
    let tape: JSONTape
    /// Whether ``JSONLineReadable`` values read themselves (else everything goes through `Codable`).
    let readingDirectly: Bool
    /// Per object depth: the object whose look-ups it remembers, and the key token to try first next time.
    @exclusivity(unchecked) private var cursors: [(object: Int, next: Int)] = []
    /// Strings that repeat across one decode, each made once (``internedString(at:)``).
    @exclusivity(unchecked) private var interned: [JSONTape.RawName: String] = [:]

    /// The most strings one decode interns; later ones are made each time.
    static let internedMax = 65_536

    init(tape: JSONTape, readingDirectly: Bool = true) {
        self.tape = tape
        self.readingDirectly = readingDirectly
        cursors.reserveCapacity(16)
    }

    @inline(__always)
    func token(_ index: Int) -> JSONToken { tape.tokens[index] }

    /// The error for a value of the wrong kind: `valueNotFound` for a null, as `JSONDecoder` reports it.
    func mismatch(_ type: Any.Type, at index: Int) -> DecodingError {
        let token = token(index)
        if token.kind == .null {
            return DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: [], debugDescription: "null at byte \(token.start)"))
        }
        return DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: [], debugDescription: "expected \(type) but found \(token.kind) at byte \(token.start)"))
    }

    func corrupted(_ message: String, at index: Int) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "\(message) at byte \(token(index).start)"))
    }

    /// Decodes the value at token `index`, enclosed by `depth` containers, as a `T`. Common scalars are recognised by
    /// their metatype (a pointer comparison), like the encoder does.
    func decodeValue<T: Decodable>(_: T.Type, at index: Int, depth: Int) throws -> T {
        if T.self == String.self { return unsafeBitCast(try string(at: index), to: T.self) }
        if T.self == Int64.self { return unsafeBitCast(try integer(Int64.self, at: index), to: T.self) }
        if T.self == Date.self {
            return unsafeBitCast(Date(timeIntervalSinceReferenceDate: try double(at: index)), to: T.self)
        }
        if T.self == Bool.self { return unsafeBitCast(try bool(at: index), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(Int.self, at: index), to: T.self) }
        if T.self == Int32.self { return unsafeBitCast(try integer(Int32.self, at: index), to: T.self) }
        if T.self == UInt64.self { return unsafeBitCast(try integer(UInt64.self, at: index), to: T.self) }
        if T.self == UInt32.self { return unsafeBitCast(try integer(UInt32.self, at: index), to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(at: index), to: T.self) }
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw corrupted("\(T.self) needs JSONDecoder's special form, which journal files never hold", at: index)
        }
        if let dictionary = T.self as? any JSONTapeDictionary.Type {
            return try dictionary.decodeMembers(self, object: index, depth: depth) as! T
        }
        if readingDirectly, let readable = T.self as? any JSONLineReadable.Type {
            guard token(index).kind == .object else { throw mismatch([String: Any].self, at: index) }
            return try readable.init(readingJSON: JSONObjectReader(state: self, object: index, depth: depth)) as! T
        }
        return try T(from: JSONTapeDecoder(state: self, index: index, depth: depth))
    }

    func bool(at index: Int) throws -> Bool {
        switch token(index).kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, at: index)
        }
    }

    /// ``string(at:)`` for a value that repeats across records — a ledger transaction's actor: a few key ids over
    /// millions of transactions in a snapshot — made once per decode and shared, so a reloaded ledger holds one copy
    /// of each, not one allocation per transaction. Only plain ASCII strings too long to be stored inline in a
    /// `String` (over 15 bytes) are interned, and at most ``internedMax`` of them; the value is the same either way.
    func internedString(at index: Int) throws -> String {
        let token = token(index)
        guard token.kind == .string, token.end - token.start > 15 else { return try string(at: index) }
        let raw = JSONTape.RawName(bytes: tape.rawBytes(at: index))
        if let known = interned[raw] { return known }
        let value = try tape.stringValue(at: index)
        if interned.count < Self.internedMax { interned[raw] = value }
        return value
    }

    func string(at index: Int) throws -> String {
        let token = token(index)
        // Only a string token's `start..<end` is a byte range (a container's `end` is a token index).
        switch token.kind {
        case .string, .unicodeString, .escapedString: break
        default: throw mismatch(String.self, at: index)
        }
        return try tape.stringValue(at: index)
    }

    /// The number's text (ASCII by the tape's grammar).
    private func numberText(at index: Int) -> Substring {
        let token = token(index)
        return Substring(
            decoding: UnsafeRawBufferPointer(rebasing: tape.bytes[Int(token.start)..<Int(token.end)]), as: UTF8.self)
    }

    /// Whether the number's digits before any exponent are all zeros.
    private func isTrueZero(at index: Int) -> Bool {
        let token = token(index)
        for offset in Int(token.start)..<Int(token.end) {
            switch tape.bytes[offset] {
            case UInt8(ascii: "e"), UInt8(ascii: "E"): return true
            case UInt8(ascii: "1")...UInt8(ascii: "9"): return false
            default: continue
            }
        }
        return true
    }

    func double(at index: Int) throws -> Double {
        guard token(index).kind == .number else { throw mismatch(Double.self, at: index) }
        // Out of range either way (too large, or so small it rounds to zero) is an error, as in JSONDecoder.
        guard let value = Double(numberText(at: index)), value.isFinite, value != 0 || isTrueZero(at: index) else {
            throw corrupted("number \(numberText(at: index)) does not fit Double", at: index)
        }
        return value
    }

    func float(at index: Int) throws -> Float {
        guard token(index).kind == .number else { throw mismatch(Float.self, at: index) }
        guard let value = Float(numberText(at: index)), value.isFinite, value != 0 || isTrueZero(at: index) else {
            throw corrupted("number \(numberText(at: index)) does not fit Float", at: index)
        }
        return value
    }

    func integer<I: FixedWidthInteger>(_: I.Type, at index: Int) throws -> I {
        let token = token(index)
        guard token.kind == .number else { throw mismatch(I.self, at: index) }
        var position = Int(token.start)
        let end = Int(token.end)
        let negative = tape.bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        var value: I = 0
        var exact = true
        while position < end, JSONTape.isDigit(tape.bytes[position]) {
            let digit = I(tape.bytes[position] - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) =
                negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            if overflow1 || overflow2 {
                exact = false
                break
            }
            value = sum
            position += 1
        }
        if exact, position == end { return value }
        // A fraction or an exponent (or a value out of range): JSONDecoder reads these through a Double and takes
        // only a Double that is exactly an `I`; the value is also computed in decimal, so that a Double rounding
        // 9223372036854775.807 to an integer does not pass.
        let text = numberText(at: index)
        guard let viaDouble = Double(text).flatMap({ I(exactly: $0) }), exactInteger(I.self, text) == viaDouble else {
            throw corrupted("number \(text) is not a \(I.self)", at: index)
        }
        return viaDouble
    }

    /// The integer the number `text` (with a fraction or an exponent) stands for, computed in decimal; nil when it is
    /// not an integer or does not fit `I`.
    private func exactInteger<I: FixedWidthInteger>(_: I.Type, _ text: Substring) -> I? {
        let text = Array(text.utf8)
        var position = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { position += 1 }
        var digits: [UInt8] = []
        var fractionDigits = 0
        var inFraction = false
        while position < text.count, text[position] != UInt8(ascii: "e"), text[position] != UInt8(ascii: "E") {
            if text[position] == UInt8(ascii: ".") {
                inFraction = true
            } else {
                digits.append(text[position] - UInt8(ascii: "0"))
                if inFraction { fractionDigits += 1 }
            }
            position += 1
        }
        var exponent = 0
        if position < text.count {
            position += 1
            let negativeExponent = text[position] == UInt8(ascii: "-")
            if text[position] == UInt8(ascii: "-") || text[position] == UInt8(ascii: "+") { position += 1 }
            while position < text.count {
                // Beyond ±10,000 the value is 0 or out of every integer range; keep the arithmetic bounded.
                exponent = min(exponent * 10 + Int(text[position] - UInt8(ascii: "0")), 10_000)
                position += 1
            }
            if negativeExponent { exponent = -exponent }
        }
        guard let firstNonZero = digits.firstIndex(where: { $0 != 0 }) else { return 0 }
        var significant = digits[firstNonZero...]
        var scale = exponent - fractionDigits
        while scale < 0 {
            guard significant.last == 0 else { return nil }  // a non-zero digit after the point
            significant.removeLast()
            scale += 1
        }
        guard significant.count + scale <= 40 else { return nil }
        var value: I = 0
        for digit in significant + repeatElement(0, count: scale) {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) =
                negative ? times.subtractingReportingOverflow(I(digit)) : times.addingReportingOverflow(I(digit))
            guard !overflow1, !overflow2 else { return nil }
            value = next
        }
        return value
    }

    // MARK: Members

    /// The value token of the member named `key` in the object at `object`, nil when it has none. `depth` is the
    /// object's nesting depth, which picks the cursor.
    func member(_ key: String, in object: Int, depth: Int) -> Int? {
        guard token(object).count > 0 else { return nil }
        while cursors.count <= depth { cursors.append((-1, 0)) }
        let first = object + 1
        let end = Int(token(object).end)
        // Start after the member found last in this object (a key token, or `end`), then wrap around.
        let start = cursors[depth].object == object ? cursors[depth].next : first
        if let found = find(key, from: start, to: end) ?? find(key, from: first, to: start) {
            cursors[depth] = (object, tape.after(found))
            return found
        }
        return nil
    }

    /// The value token of the member `key` names (`keyNotFound`, reporting `key`, when there is none).
    func requiredMember(_ key: some CodingKey, in object: Int, depth: Int) throws -> Int {
        guard let index = member(key.stringValue, in: object, depth: depth) else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: [],
                    debugDescription: "no member \"\(key.stringValue)\" in the object at byte \(token(object).start)"))
        }
        return index
    }

    /// The value token of an optional member: nil when absent or null, as `JSONDecoder`'s `decodeIfPresent` reads it.
    func presentMember(_ key: String, in object: Int, depth: Int) -> Int? {
        guard let index = member(key, in: object, depth: depth), token(index).kind != .null else { return nil }
        return index
    }

    /// The value token of the first member named `key` whose key token lies in `from..<to`.
    private func find(_ key: String, from: Int, to: Int) -> Int? {
        var keyIndex = from
        while keyIndex < to {
            if keyMatches(keyIndex, key) { return keyIndex + 1 }
            keyIndex = tape.after(keyIndex + 1)
        }
        return nil
    }

    /// Whether the member name at `index` is `key`: bytes compared when both are ASCII without escapes, else as Swift
    /// strings (canonical equivalence: the Kelvin sign is "K"), as `JSONDecoder` compares them.
    private func keyMatches(_ index: Int, _ key: String) -> Bool {
        let token = token(index)
        guard token.kind == .string else { return (try? string(at: index)) == key }
        let raw = tape.rawBytes(at: index)
        var key = key
        return key.withUTF8 { utf8 in
            if utf8.count == raw.count && (raw.isEmpty || memcmp(utf8.baseAddress!, raw.baseAddress!, raw.count) == 0) {
                return true
            }
            // Different bytes: different strings unless the key has non-ASCII characters equivalent to ASCII ones.
            return !utf8.allSatisfy { $0 < 0x80 }
                && String(decoding: raw, as: UTF8.self) == String(decoding: utf8, as: UTF8.self)
        }
    }

    /// Every member name of the object at `object`, in order.
    func memberNames(_ object: Int) throws -> [String] {
        var names: [String] = []
        names.reserveCapacity(Int(token(object).count))
        var keyIndex = object + 1
        let end = Int(token(object).end)
        while keyIndex < end {
            names.append(try string(at: keyIndex))
            keyIndex = tape.after(keyIndex + 1)
        }
        return names
    }
}

/// The `Decoder` of the value at one token.
struct JSONTapeDecoder: Decoder {
    let state: JSONTapeState
    let index: Int
    /// Objects enclosing this value.
    let depth: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard state.token(index).kind == .object else { throw state.mismatch([String: Any].self, at: index) }
        return KeyedDecodingContainer(JSONTapeKeyedContainer<Key>(state: state, object: index, depth: depth))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard state.token(index).kind == .array else { throw state.mismatch([Any].self, at: index) }
        return JSONTapeUnkeyedContainer(state: state, array: index, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        JSONTapeSingleValueContainer(state: state, index: index, depth: depth)
    }
}

struct JSONTapeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: JSONTapeState
    let object: Int
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    var allKeys: [Key] {
        ((try? state.memberNames(object)) ?? []).compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        state.member(key.stringValue, in: object, depth: depth) != nil
    }

    private func value(_ key: Key) throws -> Int {
        try state.requiredMember(key, in: object, depth: depth)
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        state.token(try value(key)).kind == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try state.decodeValue(T.self, at: try value(key), depth: depth + 1)
    }

    // An optional member in one look-up: nil when absent or null, else its value, as `JSONDecoder` reads it. The
    // protocol's defaults look the key up three times (contains, decodeNil, decode).
    private func present<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let index = state.presentMember(key.stringValue, in: object, depth: depth) else { return nil }
        return try state.decodeValue(T.self, at: index, depth: depth + 1)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try present(type, forKey: key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(type, forKey: key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(type, forKey: key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(type, forKey: key) }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(type, forKey: key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(type, forKey: key) }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONTapeDecoder(state: state, index: try value(key), depth: depth + 1).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try JSONTapeDecoder(state: state, index: try value(key), depth: depth + 1).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        superDecoder(named: "super")
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        superDecoder(named: key.stringValue)
    }

    /// The decoder of member `name`, or of null when there is none (as `JSONDecoder`).
    private func superDecoder(named name: String) -> any Decoder {
        let index = state.member(name, in: object, depth: depth) ?? state.tape.nullIndex
        return JSONTapeDecoder(state: state, index: index, depth: depth + 1)
    }
}

struct JSONTapeUnkeyedContainer: UnkeyedDecodingContainer {
    let state: JSONTapeState
    let depth: Int
    let count: Int?
    private(set) var currentIndex = 0
    /// The token of the next element.
    private var position: Int

    init(state: JSONTapeState, array: Int, depth: Int) {
        self.state = state
        self.depth = depth
        self.count = Int(state.token(array).count)
        self.position = array + 1
    }

    var codingPath: [any CodingKey] { [] }
    var isAtEnd: Bool { currentIndex >= count! }

    /// The next element's token (the container moves past it only when it was read, as in `JSONDecoder`).
    private func peek(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type,
                DecodingError.Context(codingPath: [], debugDescription: "the array has no element \(currentIndex)"))
        }
        return position
    }

    private mutating func advance() {
        position = state.tape.after(position)
        currentIndex += 1
    }

    mutating func decodeNil() throws -> Bool {
        guard state.token(try peek(Never.self)).kind == .null else { return false }
        advance()
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let value = try state.decodeValue(T.self, at: try peek(T.self), depth: depth + 1)
        advance()
        return value
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type
    ) throws -> KeyedDecodingContainer<NestedKey> {
        let container = try JSONTapeDecoder(state: state, index: try peek([String: Any].self), depth: depth + 1)
            .container(keyedBy: type)
        advance()
        return container
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let container = try JSONTapeDecoder(state: state, index: try peek([Any].self), depth: depth + 1)
            .unkeyedContainer()
        advance()
        return container
    }

    mutating func superDecoder() throws -> any Decoder {
        let decoder = JSONTapeDecoder(state: state, index: try peek(Any.self), depth: depth + 1)
        advance()
        return decoder
    }
}

struct JSONTapeSingleValueContainer: SingleValueDecodingContainer {
    let state: JSONTapeState
    let index: Int
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    func decodeNil() -> Bool { state.token(index).kind == .null }

    func decode(_ type: Bool.Type) throws -> Bool { try state.bool(at: index) }
    func decode(_ type: String.Type) throws -> String { try state.string(at: index) }
    func decode(_ type: Double.Type) throws -> Double { try state.double(at: index) }
    func decode(_ type: Float.Type) throws -> Float { try state.float(at: index) }
    func decode(_ type: Int.Type) throws -> Int { try state.integer(Int.self, at: index) }
    func decode(_ type: Int8.Type) throws -> Int8 { try state.integer(Int8.self, at: index) }
    func decode(_ type: Int16.Type) throws -> Int16 { try state.integer(Int16.self, at: index) }
    func decode(_ type: Int32.Type) throws -> Int32 { try state.integer(Int32.self, at: index) }
    func decode(_ type: Int64.Type) throws -> Int64 { try state.integer(Int64.self, at: index) }
    func decode(_ type: UInt.Type) throws -> UInt { try state.integer(UInt.self, at: index) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try state.integer(UInt8.self, at: index) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try state.integer(UInt16.self, at: index) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try state.integer(UInt32.self, at: index) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try state.integer(UInt64.self, at: index) }
    func decode(_ type: Int128.Type) throws -> Int128 { try state.integer(Int128.self, at: index) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try state.integer(UInt128.self, at: index) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try state.decodeValue(T.self, at: index, depth: depth)
    }
}

/// A `[String: Value]` dictionary, decoded member by member into a table sized for all of them (a snapshot's tables
/// hold up to millions of entries). `Dictionary`'s own `Decodable` would list the keys, look each one up again and
/// grow the table step by step; the values are the same.
protocol JSONTapeDictionary {
    static func decodeMembers(_ state: JSONTapeState, object: Int, depth: Int) throws -> Self
}

extension Dictionary: JSONTapeDictionary where Key == String, Value: Decodable {
    static func decodeMembers(_ state: JSONTapeState, object: Int, depth: Int) throws -> Self {
        let token = state.token(object)
        guard token.kind == .object else { throw state.mismatch(Self.self, at: object) }
        var result = Self(minimumCapacity: Int(token.count))
        var keyIndex = object + 1
        while keyIndex < Int(token.end) {
            // The tape refused repeated names, so each member adds an entry.
            result[try state.string(at: keyIndex)] = try state.decodeValue(
                Value.self, at: keyIndex + 1, depth: depth + 1)
            keyIndex = state.tape.after(keyIndex + 1)
        }
        return result
    }
}
