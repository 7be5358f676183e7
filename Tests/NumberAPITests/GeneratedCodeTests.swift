import Foundation
import NumberAPI
import NumberWire
import Testing

/// The generated `ProtoMessage` code against each message's `Codable` conformance: the same bytes out, and for any
/// bytes in (valid, truncated, corrupted) the same value or the same error.
@Suite("Generated message code agrees with Codable")
struct GeneratedCodeTests {
    @Test("every cross-check vector encodes to the same bytes both ways")
    func sameBytes() throws {
        for vector in crossCheckVectors {
            #expect(try vector.encode() == vector.encodeThroughCodable(), "\(vector.name)")
        }
    }

    @Test("every prefix and every single-byte corruption of every vector decodes the same both ways")
    func sameOutcomes() async throws {
        var inputs = 0
        for vector in crossCheckVectors {
            let bytes = try vector.encode()
            var variants: [[UInt8]] = [bytes]
            for length in 0..<bytes.count { variants.append(Array(bytes[..<length])) }
            for index in bytes.indices {
                for replacement: UInt8 in [0xff, bytes[index] ^ 0x02, bytes[index] ^ 0x80] {
                    var corrupted = bytes
                    corrupted[index] = replacement
                    variants.append(corrupted)
                }
            }
            // Thousands of decodes per vector in a debug build: let the other suites' tasks run in between.
            await Task.yield()
            for variant in variants {
                inputs += 1
                if let difference = vector.decodePathsDiffer(variant) {
                    Issue.record("\(vector.name) \(variant): \(difference)")
                    return
                }
            }
        }
        #expect(inputs > 10_000)
    }

    @Test("a sub-message seen twice merges, a scalar seen twice keeps the last, both ways")
    func mergeSemantics() throws {
        // PhoneNumber.pricing (13) twice: setup fee from the first, monthly fee from the second; id (1) twice.
        let bytes: [UInt8] = [
            0x0a, 0x01, 0x61, 0x6a, 0x02, 0x08, 0x05, 0x0a, 0x01, 0x62, 0x6a, 0x02, 0x10, 0x07,
        ]
        let number = try ProtoDecoder().decode(PhoneNumber.self, from: bytes)
        #expect(number.id == "b")
        #expect(number.pricing == Pricing(setupFee: 5, monthlyFee: 7))
        #expect(CodecPaths.differences(PhoneNumber.self, bytes) == nil)
    }

    @Test("an occurrence with another wire type is an unknown field on both paths, as in Google's runtimes")
    func mistypedOccurrencesAreUnknownFields() throws {
        // PhoneNumber.capabilities (12) as a varint: skipped.
        #expect(CodecPaths.differences(PhoneNumber.self, [0x60, 0x01]) == nil)
        #expect(try ProtoDecoder().decode(PhoneNumber.self, from: [0x60, 0x01]) == PhoneNumber())
        // SearchNumbersRequest.required_capabilities (9) merged from a good occurrence; a varint one is skipped.
        let search = try ProtoDecoder().decode(SearchNumbersRequest.self, from: hexBytes("4a 02 08 01 48 01"))
        #expect(search.requiredCapabilities.voice && !search.requiredCapabilities.sms)
        #expect(CodecPaths.differences(SearchNumbersRequest.self, hexBytes("4a 02 08 01 48 01")) == nil)
        // A repeated string with a varint occurrence between two good ones.
        let strings = hexBytes("1a 01 61 18 05 1a 01 62")
        #expect(try ProtoDecoder().decode(PurchaseNumbersRequest.self, from: strings).numbers == ["a", "b"])
        #expect(CodecPaths.differences(PurchaseNumbersRequest.self, strings) == nil)
        // RpcStatus.code (1) as bytes before the good value: order does not matter.
        let status = try ProtoDecoder().decode(RpcStatus.self, from: hexBytes("0a 01 05 08 07"))
        #expect(status.code == 7 && status.metadata.isEmpty)
        #expect(try ProtoDecoder().decode(RpcStatus.self, from: hexBytes("08 07 0a 01 05")).code == 7)
    }

    @Test("a field whose presence counts, present only with another wire type, is refused on both paths")
    func mistypedPresenceIsRefused() throws {
        // max_monthly_fee (10, optional int64) as fixed64: dropping it would buy without the caller's price limit.
        let limit = hexBytes("51 64 00 00 00 00 00 00 00")
        // trunk_id (7, optional string) as a varint; a varint before a good occurrence; a map entry as a varint.
        let trunk = hexBytes("38 01")
        let trunkTwice = hexBytes("38 01 3a 01 61")
        let map = hexBytes("22 05 0a 01 6b 12 00 20 01")
        for (bytes, field) in [(limit, 10), (trunk, 7), (trunkTwice, 7)] {
            let error = try #require(throws: DecodingError.self) {
                try ProtoDecoder().decode(PurchaseNumbersRequest.self, from: bytes)
            }
            guard case .dataCorrupted(let context) = error, let proto = context.underlyingError as? ProtoDecodingError
            else {
                Issue.record("not a ProtoDecodingError: \(error)")
                continue
            }
            #expect(proto.kind == .wrongWireType && proto.fieldNumber == field)
            #expect(CodecPaths.differences(PurchaseNumbersRequest.self, bytes) == nil)
        }
        #expect(throws: DecodingError.self) { try ProtoDecoder().decode(RpcStatus.self, from: map) }
        #expect(CodecPaths.differences(RpcStatus.self, map) == nil)
    }

    @Test("the nesting limit holds on the generated path")
    func nestingLimit() throws {
        var decoder = ProtoDecoder()
        decoder.limits.nestingDepthMax = 1
        // ListNumbersResponse.numbers (1) → PhoneNumber.pricing (13): depth 2.
        let bytes: [UInt8] = [0x0a, 0x04, 0x6a, 0x02, 0x08, 0x05]
        let error = try #require(throws: DecodingError.self) {
            try decoder.decode(ListNumbersResponse.self, from: bytes)
        }
        guard case .dataCorrupted(let context) = error, let proto = context.underlyingError as? ProtoDecodingError
        else {
            Issue.record("not dataCorrupted over a ProtoDecodingError: \(error)")
            return
        }
        #expect(proto.kind == .nestingTooDeep)
        decoder.limits.nestingDepthMax = 2
        #expect(try decoder.decode(ListNumbersResponse.self, from: bytes).numbers.first?.pricing.setupFee == 5)
    }

    @Test("a message without fields rejects malformed bytes (Codable's synthesized init never reads them)")
    func emptyMessageValidates() throws {
        // A tag whose varint never ends: found by the FuzzMessageDecoder differential (crash-ba9aa826…).
        let bytes: [UInt8] = [0xf6]
        let error = try #require(throws: DecodingError.self) {
            try ProtoDecoder().decode(HealthCheckRequest.self, from: bytes)
        }
        guard case .dataCorrupted(let context) = error, let proto = context.underlyingError as? ProtoDecodingError
        else {
            Issue.record("not dataCorrupted over a ProtoDecodingError: \(error)")
            return
        }
        #expect(proto.kind == .truncatedVarint)
        // Both switches to the Codable path take it: the flag, and any userInfo (which a value may read).
        #expect(try CodecPaths.codableDecoder.decode(HealthCheckRequest.self, from: bytes) == HealthCheckRequest())
        var withUserInfo = ProtoDecoder()
        withUserInfo.userInfo[CodingUserInfoKey(rawValue: "tests.any")!] = true
        #expect(try withUserInfo.decode(HealthCheckRequest.self, from: bytes) == HealthCheckRequest())
        #expect(CodecPaths.differences(HealthCheckRequest.self, bytes) == nil)
        // Well-formed unknown fields are skipped, as for any message.
        #expect(try ProtoDecoder().decode(HealthCheckRequest.self, from: [0x08, 0x01]) == HealthCheckRequest())
    }
}

/// The bytes of a hex string with spaces ("0a 01 05").
private func hexBytes(_ hex: String) -> [UInt8] {
    hex.split(separator: " ").map { UInt8($0, radix: 16)! }
}
