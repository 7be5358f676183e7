extension ProtoDecodingState {
    /// Indexes the message made of every length-delimited entry for `field` in `lo..<hi` and returns the
    /// range of the new entries. Several occurrences of a message field merge, as protobuf does: indexing
    /// them one after another gives "last scalar wins, repeated fields append, sub-messages merge". An
    /// occurrence of another wire type is an unknown field, skipped (as Google's runtimes do).
    func indexMessage(field: UInt32, lo: Int, hi: Int, depth: Int) throws -> Range<Int> {
        let first = entries.count
        for index in lo..<hi {
            let entry = entries[index]
            guard entry.field == field, entry.wireType == WireType.lengthDelimited.rawValue else { continue }
            guard depth <= limits.nestingDepthMax else {
                throw fail(
                    .nestingTooDeep, "messages nested deeper than nestingDepthMax (\(limits.nestingDepthMax))",
                    field: field == 0 ? nil : field, offset: Int(entry.start))
            }
            try scan(from: Int(entry.start), to: Int(entry.end))
        }
        return first..<entries.count
    }

    /// Appends one entry per field found in `start..<end`, validating tags, lengths and wire types, up to
    /// `fieldsMax` entries in all (entry 0, the top-level message itself, is not a field).
    private func scan(from start: Int, to end: Int) throws {
        var offset = start
        while offset < end {
            let tagOffset = offset
            let (field, wireType) = try readTag(at: &offset, end: end, field: nil)
            let (value, next) = try skipValue(
                wireType: wireType, at: offset, end: end, field: field, tagOffset: tagOffset, groupDepth: 0)
            offset = next
            guard entries.count <= limits.fieldsMax else {
                throw fail(
                    .tooManyFields, "more than fieldsMax (\(limits.fieldsMax)) fields", field: field, offset: tagOffset)
            }
            entries.append(
                FieldEntry(
                    field: field, wireType: wireType, start: UInt32(value.lowerBound), end: UInt32(value.upperBound)))
        }
    }

    /// Reads a tag at `offset` and checks its field number (1 to 2^29 - 1); `field` names the enclosing one in errors
    /// of the varint itself.
    private func readTag(at offset: inout Int, end: Int, field: UInt32?) throws -> (field: UInt32, wireType: UInt8) {
        let tagOffset = offset
        let tag = try readVarint(at: &offset, end: end, field: field)
        // A tag is 32 bits on the wire: Google's C++ and upb parsers refuse one written in more than five bytes, so it
        // must mean nothing here either.
        guard offset - tagOffset <= Wire.tagLengthMax else {
            throw fail(.varintTooLong, "tag longer than five bytes", field: field, offset: tagOffset)
        }
        let number = tag >> 3
        guard number >= 1, number <= UInt64(Wire.fieldNumberMax) else {
            throw fail(
                .invalidFieldNumber, "field number \(number) is outside 1...\(Wire.fieldNumberMax)", field: nil,
                offset: tagOffset)
        }
        return (UInt32(number), UInt8(truncatingIfNeeded: tag & 7))
    }

    /// Returns where the value of a field with `wireType` starting at `offset` lies (for a length-delimited
    /// field: its payload, after the length; for a group: its fields, before the end-group tag) and where the next
    /// field starts.
    private func skipValue(
        wireType: UInt8, at start: Int, end: Int, field: UInt32, tagOffset: Int, groupDepth: Int
    ) throws
        -> (value: Range<Int>, next: Int)
    {
        var offset = start
        switch wireType {
        case WireType.varint.rawValue:
            _ = try readVarint(at: &offset, end: end, field: field)
            return (start..<offset, offset)
        case WireType.fixed64.rawValue, WireType.fixed32.rawValue:
            let size = wireType == WireType.fixed64.rawValue ? 8 : 4
            guard end - offset >= size else {
                throw fail(.truncatedFixed, "fixed-width value runs past the end", field: field, offset: offset)
            }
            return (offset..<offset + size, offset + size)
        case WireType.lengthDelimited.rawValue:
            let lengthOffset = offset
            let length = try readVarint(at: &offset, end: end, field: field)
            // A length is 32 bits on the wire, as a tag is (Google's C++ and upb parsers refuse a longer one).
            guard offset - lengthOffset <= Wire.tagLengthMax else {
                throw fail(.varintTooLong, "length longer than five bytes", field: field, offset: lengthOffset)
            }
            // Checked against what is left before anything is sized from it.
            guard length <= UInt64(end - offset) else {
                throw fail(
                    .lengthPastEnd, "length \(length) runs past the end of its message (\(end - offset) bytes left)",
                    field: field, offset: lengthOffset)
            }
            return (offset..<offset + Int(length), offset + Int(length))
        case WireType.startGroup.rawValue:
            return try skipGroup(field: field, at: start, end: end, tagOffset: tagOffset, depth: groupDepth + 1)
        case WireType.endGroup.rawValue:
            throw fail(
                .malformedGroup, "an end-group tag (wire type 4) without its start group", field: field,
                offset: tagOffset)
        default:
            throw fail(.invalidWireType, "wire type \(wireType) does not exist", field: field, offset: tagOffset)
        }
    }

    /// Skips a group (wire type 3, proto2 and Editions' delimited encoding): numberd's schema has none, so a group
    /// is an unknown field, as it is to Google's proto3 parsers. Returns its fields' range, before the end-group
    /// tag of the same field number; nested groups are skipped too, to `nestingDepthMax`.
    private func skipGroup(
        field: UInt32, at start: Int, end: Int, tagOffset: Int, depth: Int
    ) throws -> (value: Range<Int>, next: Int) {
        guard depth <= limits.nestingDepthMax else {
            throw fail(
                .nestingTooDeep, "groups nested deeper than nestingDepthMax (\(limits.nestingDepthMax))",
                field: field, offset: tagOffset)
        }
        var offset = start
        while true {
            guard offset < end else {
                throw fail(
                    .malformedGroup, "a group without its end-group tag", field: field, offset: tagOffset)
            }
            let innerTagOffset = offset
            let (number, wireType) = try readTag(at: &offset, end: end, field: field)
            if wireType == WireType.endGroup.rawValue {
                guard number == field else {
                    throw fail(
                        .malformedGroup, "end-group tag of field \(number) inside the group of field \(field)",
                        field: field, offset: innerTagOffset)
                }
                return (start..<innerTagOffset, offset)
            }
            offset = try skipValue(
                wireType: wireType, at: offset, end: end, field: number, tagOffset: innerTagOffset,
                groupDepth: depth
            ).next
        }
    }
}
