import CCRC32C

/// CRC-32C (Castagnoli), the checksum of journal lines and snapshot files.
///
/// With the CPU's CRC32 instruction where it has one (SSE 4.2 on x86-64: 8 bytes per instruction), else a table,
/// one byte at a time. The table was fine for a journal record (a few hundred bytes, far below the cost of the
/// `fdatasync` that follows) but took ~5 % of a snapshot's write and reload, which check hundreds of megabytes.
package enum CRC32C {
    /// The reflected Castagnoli polynomial.
    static let polynomial: UInt32 = 0x82F6_3B78

    /// The 256-entry lookup table, built once.
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 {
            crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1
        }
        return crc
    }

    /// Whether `update` uses the CPU's instruction.
    package static let usesHardware = crc32c_hardware_available() != 0

    /// Returns the CRC-32C of `bytes`.
    package static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        update(0, bytes)
    }

    /// Continues a CRC-32C computed over earlier bytes with `bytes`.
    package static func update<Bytes: Sequence<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
        if usesHardware,
            let value = bytes.withContiguousStorageIfAvailable({ buffer in
                ~crc32c_hardware_update(~crc, buffer.baseAddress, buffer.count)
            })
        {
            return value
        }
        return softwareUpdate(crc, bytes)
    }

    /// `update` through the table (the path of CPUs without the instruction; tests compare the two).
    package static func softwareUpdate<Bytes: Sequence<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
        table.withUnsafeBufferPointer { table in
            var value = ~crc
            for byte in bytes {
                value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
            }
            return ~value
        }
    }
}
