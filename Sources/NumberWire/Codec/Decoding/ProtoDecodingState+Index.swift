extension ProtoDecodingState {
    /// Indexes the message made of every length-delimited entry for `field` in `lo..<hi` and returns the
    /// range of the new entries. Several occurrences of a message field merge, as protobuf does: indexing
    /// them one after another gives "last scalar wins, repeated fields append, sub-messages merge".
    func indexMessage(field: UInt32, lo: Int, hi: Int, depth: Int) throws -> Range<Int> {
        let first = entries.count
        for index in lo..<hi {
            let entry = entries[index]
            guard entry.field == field else { continue }
            guard entry.wireType == WireType.lengthDelimited.rawValue else {
                throw wrongWireType(entry, expected: .lengthDelimited, type: Any.self)
            }
            guard depth <= limits.nestingDepthMax else {
                throw fail(
                    .nestingTooDeep, "messages nested deeper than nestingDepthMax (\(limits.nestingDepthMax))",
                    field: field == 0 ? nil : field, offset: Int(entry.start))
            }
            try scan(from: Int(entry.start), to: Int(entry.end))
        }
        return first..<entries.count
    }

    /// Appends one entry per field found in `start..<end`, validating tags, lengths and wire types.
    private func scan(from start: Int, to end: Int) throws {
        var offset = start
        while offset < end {
            let tagOffset = offset
            let tag = try readVarint(at: &offset, end: end, field: nil)
            let number = tag >> 3
            guard number >= 1, number <= UInt64(Wire.fieldNumberMax) else {
                throw fail(
                    .invalidFieldNumber, "field number \(number) is outside 1...\(Wire.fieldNumberMax)",
                    field: nil, offset: tagOffset)
            }
            let field = UInt32(number)
            let wireType = UInt8(truncatingIfNeeded: tag & 7)
            let value = try skipValue(wireType: wireType, at: offset, end: end, field: field, tagOffset: tagOffset)
            offset = value.upperBound
            entries.append(
                FieldEntry(
                    field: field, wireType: wireType, start: UInt32(value.lowerBound), end: UInt32(value.upperBound)))
        }
    }

    /// Returns where the value of a field with `wireType` starting at `offset` lies (for a length-delimited
    /// field: its payload, after the length).
    private func skipValue(
        wireType: UInt8, at start: Int, end: Int, field: UInt32, tagOffset: Int
    ) throws
        -> Range<Int>
    {
        var offset = start
        switch wireType {
        case WireType.varint.rawValue:
            _ = try readVarint(at: &offset, end: end, field: field)
            return start..<offset
        case WireType.fixed64.rawValue, WireType.fixed32.rawValue:
            let size = wireType == WireType.fixed64.rawValue ? 8 : 4
            guard end - offset >= size else {
                throw fail(.truncatedFixed, "fixed-width value runs past the end", field: field, offset: offset)
            }
            return offset..<offset + size
        case WireType.lengthDelimited.rawValue:
            let lengthOffset = offset
            let length = try readVarint(at: &offset, end: end, field: field)
            // Checked against what is left before anything is sized from it.
            guard length <= UInt64(end - offset) else {
                throw fail(
                    .lengthPastEnd, "length \(length) runs past the end of its message (\(end - offset) bytes left)",
                    field: field, offset: lengthOffset)
            }
            return offset..<offset + Int(length)
        case WireType.startGroup.rawValue, WireType.endGroup.rawValue:
            throw fail(
                .groupNotSupported, "groups (wire types 3 and 4) are not supported", field: field,
                offset: tagOffset)
        default:
            throw fail(.invalidWireType, "wire type \(wireType) does not exist", field: field, offset: tagOffset)
        }
    }
}
