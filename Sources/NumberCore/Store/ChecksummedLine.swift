/// The canonical bytes of a journal line or snapshot file, and their checksum.
///
/// A line is one JSON object on one line:
///
///     {"seq":12,"time":1764385200123,"batch":[11,14],"events":[...],"crc":"1a2b3c4d"}\n
///
/// (a snapshot has `"state":{...}` in place of `"batch"` and `"events"`; a record of store format 1 has no `"batch"`). The checksum is the CRC-32C, written as 8
/// lowercase hex digits, of every byte of the line before the fixed 18-byte trailer `,"crc":"xxxxxxxx"}`; the
/// trailing newline is not covered. The line stays plain JSON, so any tool can read it, and the checked bytes are
/// exactly the bytes on disk (no re-encoding at read time).
package enum ChecksummedLine {
    /// `,"crc":"` — the bytes opening the trailer.
    static let trailerOpen: [UInt8] = Array(#","crc":""#.utf8)
    /// The trailer length: `,"crc":"` (8) + 8 hex digits + `"}` (2).
    package static let trailerLength = 18

    /// Builds a full line: `head` (e.g. `{"seq":1,"time":2,"events":`), `body` (JSON), the trailer, a newline.
    package static func encode(head: [UInt8], body: [UInt8]) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(head.count + body.count + trailerLength + 1)
        line.append(contentsOf: head)
        line.append(contentsOf: body)
        appendTrailer(to: &line)
        return line
    }

    /// Ends `line` (a head and its JSON) with the trailer over all of it and the newline.
    package static func appendTrailer(to line: inout [UInt8]) {
        let crc = CRC32C.checksum(line)
        line.append(contentsOf: trailerOpen)
        line.append(contentsOf: hex(crc))
        line.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }

    /// Whether `line` (without its newline) ends with a well-formed trailer whose checksum matches.
    package static func verify(_ line: ArraySlice<UInt8>) -> Bool {
        guard line.count > trailerLength else { return false }
        let coveredEnd = line.endIndex - trailerLength
        let trailer = line[coveredEnd...]
        guard trailer.prefix(trailerOpen.count).elementsEqual(trailerOpen),
            trailer.suffix(2).elementsEqual([UInt8(ascii: "\""), UInt8(ascii: "}")])
        else { return false }
        let digits = trailer.dropFirst(trailerOpen.count).prefix(8)
        return digits.elementsEqual(hex(CRC32C.checksum(line[line.startIndex..<coveredEnd])))
    }

    /// The 8 lowercase hex digits of `value`.
    static func hex(_ value: UInt32) -> [UInt8] {
        let alphabet = Array("0123456789abcdef".utf8)
        return (0..<8).reversed().map { alphabet[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }
}

/// Checks one checksummed line (a whole snapshot file: the line and its newline) read a chunk at a time, so a file
/// of gigabytes is checked without holding it: the checksum runs over everything but the last 19 bytes seen (the
/// trailer and the newline), which ``isValid`` then checks.
package struct ChecksummedLineStream {
    private var crc: UInt32 = 0
    private var tail: [UInt8] = []
    private var count = 0

    package init() {}

    /// Adds the next bytes of the file.
    package mutating func append(_ bytes: [UInt8]) {
        count += bytes.count
        tail.append(contentsOf: bytes)
        let keep = ChecksummedLine.trailerLength + 1
        guard tail.count > keep else { return }
        crc = CRC32C.update(crc, tail[..<(tail.count - keep)])
        tail.removeFirst(tail.count - keep)
    }

    /// Whether the bytes seen are one line ending in a newline whose trailer's checksum matches what precedes it.
    package var isValid: Bool {
        guard count > ChecksummedLine.trailerLength + 1, tail.last == UInt8(ascii: "\n") else { return false }
        let trailer = tail.dropLast()
        guard trailer.prefix(ChecksummedLine.trailerOpen.count).elementsEqual(ChecksummedLine.trailerOpen),
            trailer.suffix(2).elementsEqual([UInt8(ascii: "\""), UInt8(ascii: "}")])
        else { return false }
        return trailer.dropFirst(ChecksummedLine.trailerOpen.count).prefix(8).elementsEqual(ChecksummedLine.hex(crc))
    }
}
