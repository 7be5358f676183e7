import Foundation

/// A value that writes its own JSON: byte for byte what its `Encodable` conformance gives through
/// ``JSONLineEncoder`` (members in declaration order, `nil` members left out, dates as seconds since 2001), without
/// `Codable`'s containers, boxes and run-time metadata look-ups. The records every durable purchase journals (the
/// intent, its idempotency record, the commit with its numbers and debits) and the bulk of every snapshot conform:
/// a purchase's three events took 16.5 µs through `Codable` and take 7.5 µs this way (`CoreBenchmark`).
/// `JSONLineWritableTests` checks each conformance against the `Codable` bytes with every optional member both set
/// and unset, so a member added to a type and not here fails there; the journal and snapshot fuzzers compare them too.
protocol JSONLineWritable {
    /// Writes the complete value at the encoder's current position (its key or comma already written).
    func writeJSON(to state: JSONLineState) throws
}

/// Writes one JSON object member by member: `{`, then `"key":value` pairs separated by commas, then `}`. Keys are
/// the members' names in the `Codable` conformance: plain ASCII identifiers, written as they are.
struct JSONLineObjectWriter {
    private let state: JSONLineState
    private var empty = true

    init(_ state: JSONLineState) {
        self.state = state
        state.bytes.append(UInt8(ascii: "{"))
    }

    func end() {
        state.bytes.append(UInt8(ascii: "}"))
    }

    private mutating func key(_ key: StaticString) {
        if empty {
            empty = false
        } else {
            state.bytes.append(UInt8(ascii: ","))
        }
        state.bytes.append(UInt8(ascii: "\""))
        state.bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        state.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func write(_ key: StaticString, _ value: String) {
        self.key(key)
        state.writeString(value)
    }

    mutating func write(_ key: StaticString, _ value: String?) {
        if let value { write(key, value) }
    }

    mutating func write(_ key: StaticString, _ value: Int64) {
        self.key(key)
        state.writeInteger(value)
    }

    mutating func write(_ key: StaticString, _ value: Int) {
        self.key(key)
        state.writeInteger(value)
    }

    mutating func write(_ key: StaticString, _ value: Bool) {
        self.key(key)
        state.bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    mutating func write(_ key: StaticString, _ value: Date) throws {
        self.key(key)
        try state.writeDouble(value.timeIntervalSinceReferenceDate, codingPath: [])
    }

    mutating func write(_ key: StaticString, _ value: Date?) throws {
        if let value { try write(key, value) }
    }

    mutating func write<Value: RawRepresentable<String>>(_ key: StaticString, _ value: Value) {
        write(key, value.rawValue)
    }

    mutating func write<Value: JSONLineWritable>(_ key: StaticString, _ value: Value) throws {
        self.key(key)
        try value.writeJSON(to: state)
    }

    mutating func write<Value: JSONLineWritable>(_ key: StaticString, _ values: [Value]) throws {
        self.key(key)
        state.bytes.append(UInt8(ascii: "["))
        for index in values.indices {
            if index > values.startIndex { state.bytes.append(UInt8(ascii: ",")) }
            try values[index].writeJSON(to: state)
        }
        state.bytes.append(UInt8(ascii: "]"))
    }

    /// A member that is an object written here: `body` writes its members.
    mutating func writeObject(_ key: StaticString, _ body: (inout JSONLineObjectWriter) throws -> Void) rethrows {
        self.key(key)
        var object = JSONLineObjectWriter(state)
        try body(&object)
        object.end()
    }

    /// A member of a type that does not write itself: through its `Codable` conformance.
    mutating func write<Value: Encodable>(encoding key: StaticString, _ value: Value?) throws {
        guard let value else { return }
        self.key(key)
        try state.encodeNested(value)
    }
}

extension JSONLineState {
    /// Writes `value` through `Codable` at the current position, with every container it opens closed again, so a
    /// ``JSONLineObjectWriter`` can go on after it. `throughCodable` skips the value's own ``JSONLineWritable`` conformance (for a value that writes only some of
    /// its cases itself).
    func encodeNested<Value: Encodable>(_ value: Value, throughCodable: Bool = false) throws {
        let depth = open.count
        if throughCodable {
            try encodeCodable(value, depth: depth, codingPath: [])
        } else {
            try encodeValue(value, depth: depth, codingPath: [])
        }
        close(downTo: depth)
    }

    /// Writes an enum case as synthesized `Codable` does: an object with one member, the case's name, holding an
    /// object of the case's values (`_0` for an unlabelled one) that `body` writes.
    func writeCase(_ name: StaticString, _ body: (inout JSONLineObjectWriter) throws -> Void) rethrows {
        var outer = JSONLineObjectWriter(self)
        try outer.writeObject(name, body)
        outer.end()
    }
}

/// So that arrays of strings go through the same array writer as arrays of records.
extension String: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws { state.writeString(self) }
}

extension CoreEvent: JSONLineWritable {
    /// The events of a purchase directly; every other event through `Codable`.
    func writeJSON(to state: JSONLineState) throws {
        switch self {
        case .purchaseIntentOpened(let intent):
            try state.writeCase("purchaseIntentOpened") { try $0.write("_0", intent) }
        case .idempotencyRecorded(let record):
            try state.writeCase("idempotencyRecorded") { try $0.write("_0", record) }
        case .purchaseCommitted(let intentId, let numbers, let transactions):
            try state.writeCase("purchaseCommitted") {
                $0.write("intentId", intentId)
                try $0.write("numbers", numbers)
                try $0.write("transactions", transactions)
            }
        default:
            try state.encodeNested(self, throughCodable: true)
        }
    }
}

extension PurchaseIntent: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("id", id)
        object.write("accountId", accountId)
        try object.write("items", items)
        object.write("country", country)
        object.write("type", type)
        object.write("trunkId", trunkId)
        object.write("currency", currency)
        object.write("heldAmount", heldAmount)
        object.write("idempotencyKey", idempotencyKey)
        try object.write("createdAt", createdAt)
        object.write("status", status)
        object.write("actor", actor?.rawValue)
        object.end()
    }
}

extension PurchaseIntent.Item: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("phoneNumber", phoneNumber)
        object.write("setupFee", setupFee)
        object.write("monthlyFee", monthlyFee)
        try object.write(encoding: "listing", listing)
        object.end()
    }
}

extension IdempotencyRecord: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("accountId", accountId)
        object.write("key", key)
        object.write("operation", operation)
        object.write("fingerprint", fingerprint)
        try object.write("createdAt", createdAt)
        try object.write("outcome", outcome)
        object.end()
    }
}

extension IdempotencyRecord.Outcome: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        switch self {
        case .pending(let intentId):
            state.writeCase("pending") { $0.write("intentId", intentId) }
        case .purchased(let numberIds, let transactionIds):
            try state.writeCase("purchased") {
                try $0.write("numberIds", numberIds)
                try $0.write("transactionIds", transactionIds)
            }
        case .fundsAdded(let transactionId):
            state.writeCase("fundsAdded") { $0.write("transactionId", transactionId) }
        case .adjusted(let transactionId):
            state.writeCase("adjusted") { $0.write("transactionId", transactionId) }
        case .releaseRequested(let numberId, let renewalIds):
            try state.writeCase("releaseRequested") {
                $0.write("numberId", numberId)
                try $0.write("renewalIds", renewalIds)
            }
        }
    }
}

extension NumberCapabilities: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("voice", voice)
        object.write("sms", sms)
        object.write("mms", mms)
        object.write("fax", fax)
        object.end()
    }
}

extension OwnedNumber: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("id", id)
        object.write("accountId", accountId)
        object.write("phoneNumber", phoneNumber)
        object.write("friendlyName", friendlyName)
        object.write("country", country)
        object.write("region", region)
        object.write("locality", locality)
        object.write("postalCode", postalCode)
        object.write("type", type)
        try object.write("capabilities", capabilities)
        object.write("status", status)
        object.write("trunkId", trunkId)
        object.write("setupFee", setupFee)
        object.write("monthlyFee", monthlyFee)
        object.write("currency", currency)
        object.write("providerSid", providerSid)
        try object.write("purchasedAt", purchasedAt)
        object.write("billingAnchorDay", billingAnchorDay)
        try object.write("cycleStart", cycleStart)
        try object.write("nextBillingDate", nextBillingDate)
        try object.write("pastDueSince", pastDueSince)
        try object.write("releaseRequestedAt", releaseRequestedAt)
        try object.write("releasedAt", releasedAt)
        object.write("refundTransactionId", refundTransactionId)
        object.write("releaseRequestedBy", releaseRequestedBy?.rawValue)
        object.write("releaseRequestKey", releaseRequestKey)
        try object.write(encoding: "routeRequest", routeRequest)
        object.end()
    }
}

extension LedgerTransaction: JSONLineWritable {
    func writeJSON(to state: JSONLineState) throws {
        var object = JSONLineObjectWriter(state)
        object.write("id", id)
        object.write("accountId", accountId)
        object.write("kind", kind)
        object.write("amount", amount)
        object.write("balanceAfter", balanceAfter)
        object.write("currency", currency)
        object.write("numberId", numberId)
        object.write("description", description)
        try object.write("createdAt", createdAt)
        object.write("idempotencyKey", idempotencyKey)
        object.write("actor", actor?.rawValue)
        object.end()
    }
}
