/// Writes the elements of a repeated field for a type that asks for an unkeyed container itself
/// (arrays are written directly): scalars go into one packed run, anything else one field per element.
struct ProtoUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let state: ProtoEncodingState
    let field: UInt32
    let depth: Int
    private let repeatedSerial: UInt32
    private(set) var count = 0

    init(state: ProtoEncodingState, field: UInt32, depth: Int) {
        self.state = state
        self.field = field
        self.depth = depth
        self.repeatedSerial = state.makeSerial()
    }

    var codingPath: [any CodingKey] { state.codingPath }

    private var element: ProtoFieldEncoder {
        ProtoFieldEncoder(state: state, field: field, depth: depth, explicit: true, repeatedSerial: repeatedSerial)
    }

    // protobuf has no null element; a nil is skipped.
    mutating func encodeNil() throws { count += 1 }

    mutating func encode(_ value: Bool) throws { try add(value) }
    mutating func encode(_ value: String) throws { try add(value) }
    mutating func encode(_ value: Double) throws { try add(value) }
    mutating func encode(_ value: Float) throws { try add(value) }
    mutating func encode(_ value: Int) throws { try add(value) }
    mutating func encode(_ value: Int8) throws { try add(value) }
    mutating func encode(_ value: Int16) throws { try add(value) }
    mutating func encode(_ value: Int32) throws { try add(value) }
    mutating func encode(_ value: Int64) throws { try add(value) }
    mutating func encode(_ value: UInt) throws { try add(value) }
    mutating func encode(_ value: UInt8) throws { try add(value) }
    mutating func encode(_ value: UInt16) throws { try add(value) }
    mutating func encode(_ value: UInt32) throws { try add(value) }
    mutating func encode(_ value: UInt64) throws { try add(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try add(value) }

    private mutating func add<T: Encodable>(_ value: T) throws {
        count += 1
        try state.encodeValue(value, encoder: element)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    )
        -> KeyedEncodingContainer<NestedKey>
    {
        count += 1
        return element.container(keyedBy: NestedKey.self)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        state.deferError(
            state.error(.unsupportedShape, "protobuf has no repeated field of repeated fields (nested arrays)", ()))
        return ProtoUnkeyedEncodingContainer(state: state, field: field, depth: depth)
    }

    mutating func superEncoder() -> any Encoder {
        count += 1
        return element
    }
}
