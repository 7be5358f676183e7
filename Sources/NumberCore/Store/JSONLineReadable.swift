import Foundation

/// A value that reads itself from ``JSONLineDecoder``'s tape: the value its `Decodable` conformance reads, or the
/// same kind of error (members looked up in declaration order, so the first bad member is the one reported), without
/// `Codable`'s containers, boxes and run-time metadata look-ups. The records that make up most of a snapshot and of
/// a purchase's journal line conform (owned numbers, ledger transactions). `JSONLineReadableTests` compares each
/// conformance with the `Codable` path on valid and damaged input; the journal and snapshot fuzzers compare too.
protocol JSONLineReadable {
    /// Reads the object `reader` points at.
    init(readingJSON reader: JSONObjectReader) throws
}

/// Reads the members of one object of the tape by name.
struct JSONObjectReader {
    let state: JSONTapeState
    let object: Int
    /// The object's nesting depth.
    let depth: Int

    /// The value token of a required member (`keyNotFound` when absent).
    private func value(_ key: String) throws -> Int {
        try state.requiredMember(AnyCodingKey(key), in: object, depth: depth)
    }

    /// The value token of an optional member: nil when absent or null.
    private func present(_ key: String) -> Int? { state.presentMember(key, in: object, depth: depth) }

    func string(_ key: String) throws -> String { try state.string(at: try value(key)) }

    func string(ifPresent key: String) throws -> String? { try present(key).map { try state.string(at: $0) } }

    /// An optional string that repeats across records, shared once per decode (``JSONTapeState/internedString(at:)``).
    func internedString(ifPresent key: String) throws -> String? {
        try present(key).map { try state.internedString(at: $0) }
    }

    /// A ``LedgerActor``: a few key ids and numberd's own names, repeated over every transaction.
    func actor(ifPresent key: String) throws -> LedgerActor? {
        try internedString(ifPresent: key).map(LedgerActor.init(rawValue:))
    }

    func int64(_ key: String) throws -> Int64 { try state.integer(Int64.self, at: try value(key)) }

    func int(_ key: String) throws -> Int { try state.integer(Int.self, at: try value(key)) }

    func bool(_ key: String) throws -> Bool { try state.bool(at: try value(key)) }

    func date(_ key: String) throws -> Date {
        Date(timeIntervalSinceReferenceDate: try state.double(at: try value(key)))
    }

    func date(ifPresent key: String) throws -> Date? {
        try present(key).map { Date(timeIntervalSinceReferenceDate: try state.double(at: $0)) }
    }

    /// A string-backed enum, refused as `RawRepresentable`'s `Decodable` refuses an unknown raw value.
    func raw<Value: RawRepresentable<String>>(_ key: String, as type: Value.Type) throws -> Value {
        let index = try value(key)
        let raw = try state.string(at: index)
        guard let value = Value(rawValue: raw) else {
            throw state.corrupted("Cannot initialize \(Value.self) from invalid String value \(raw)", at: index)
        }
        return value
    }

    /// A member of any `Decodable` type, through the decoder (which reads a ``JSONLineReadable`` one directly).
    func value<Value: Decodable>(_ key: String, as type: Value.Type) throws -> Value {
        try state.decodeValue(Value.self, at: try value(key), depth: depth + 1)
    }

    /// An optional member of any `Decodable` type (nil when absent), as ``value(_:as:)`` reads one.
    func value<Value: Decodable>(ifPresent key: String, as type: Value.Type) throws -> Value? {
        try present(key).map { try state.decodeValue(Value.self, at: $0, depth: depth + 1) }
    }
}

extension NumberCapabilities: JSONLineReadable {
    init(readingJSON reader: JSONObjectReader) throws {
        self.init(
            voice: try reader.bool("voice"), sms: try reader.bool("sms"), mms: try reader.bool("mms"),
            fax: try reader.bool("fax"))
    }
}

extension OwnedNumber: JSONLineReadable {
    init(readingJSON reader: JSONObjectReader) throws {
        self.init(
            id: try reader.string("id"), accountId: try reader.string("accountId"),
            phoneNumber: try reader.string("phoneNumber"), friendlyName: try reader.string("friendlyName"),
            country: try reader.string("country"), region: try reader.string(ifPresent: "region"),
            locality: try reader.string(ifPresent: "locality"), postalCode: try reader.string(ifPresent: "postalCode"),
            type: try reader.raw("type", as: NumberType.self),
            capabilities: try reader.value("capabilities", as: NumberCapabilities.self),
            status: try reader.raw("status", as: Status.self), trunkId: try reader.string(ifPresent: "trunkId"),
            setupFee: try reader.int64("setupFee"), monthlyFee: try reader.int64("monthlyFee"),
            currency: try reader.string("currency"), providerSid: try reader.string("providerSid"),
            purchasedAt: try reader.date("purchasedAt"), billingAnchorDay: try reader.int("billingAnchorDay"),
            cycleStart: try reader.date("cycleStart"), nextBillingDate: try reader.date("nextBillingDate"))
        pastDueSince = try reader.date(ifPresent: "pastDueSince")
        releaseRequestedAt = try reader.date(ifPresent: "releaseRequestedAt")
        releasedAt = try reader.date(ifPresent: "releasedAt")
        refundTransactionId = try reader.string(ifPresent: "refundTransactionId")
        releaseRequestedBy = try reader.actor(ifPresent: "releaseRequestedBy")
        releaseRequestKey = try reader.string(ifPresent: "releaseRequestKey")
        routeRequest = try reader.value(ifPresent: "routeRequest", as: RouteRequest.self)
    }
}

extension LedgerTransaction: JSONLineReadable {
    init(readingJSON reader: JSONObjectReader) throws {
        self.init(
            id: try reader.string("id"), accountId: try reader.string("accountId"),
            kind: try reader.raw("kind", as: Kind.self), amount: try reader.int64("amount"),
            balanceAfter: try reader.int64("balanceAfter"), currency: try reader.string("currency"),
            numberId: try reader.string(ifPresent: "numberId"), description: try reader.string("description"),
            createdAt: try reader.date("createdAt"), idempotencyKey: try reader.string(ifPresent: "idempotencyKey"),
            actor: try reader.actor(ifPresent: "actor"))
    }
}
