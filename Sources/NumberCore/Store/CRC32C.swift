/// CRC-32C (Castagnoli), the checksum of journal lines and snapshot files.
///
/// Software table implementation (slicing by one byte): the journal checksums a few hundred bytes per record, far
/// below the cost of the `fdatasync` that follows, so a hardware path would not change the commit rate.
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

    /// Returns the CRC-32C of `bytes`.
    package static func checksum<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt32 {
        update(0, bytes)
    }

    /// Continues a CRC-32C computed over earlier bytes with `bytes`.
    package static func update<Bytes: Sequence<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
        table.withUnsafeBufferPointer { table in
            var value = ~crc
            for byte in bytes {
                value = table[Int((value ^ UInt32(byte)) & 0xFF)] ^ (value >> 8)
            }
            return ~value
        }
    }
}
