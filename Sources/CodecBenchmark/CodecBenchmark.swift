import CAllocationCounter
import Foundation
import NumberAPI
import NumberWire

/// Measures the protobuf codec against Foundation's JSONEncoder/JSONDecoder on the same NumberAPI values, in one
/// run, and prints ns/op, ops/s, allocations/op and the JSON/protobuf ratio.
///
///     swift run -c release CodecBenchmark [--scale N]
///
/// `--scale` multiplies the iteration counts (default 1: well under a minute on a quiet core; 0.01 for a smoke run).
@main
enum CodecBenchmark {
    static func main() throws {
        let scale = scaleArgument()
        print("CodecBenchmark: protobuf (NumberWire) vs Foundation JSON, release build expected")
        print("allocations counted: \(allocation_counter_available() != 0 ? "yes (malloc family)" : "no")")
        print("")
        try compare(
            "PurchaseNumbersResponse, 1 number", BenchmarkMessages.purchase, iterations: max(1, Int(20_000 * scale)))
        try compare("ListNumbersResponse, 100 numbers", BenchmarkMessages.list, iterations: max(1, Int(400 * scale)))
    }

    static func scaleArgument() -> Double {
        let arguments = CommandLine.arguments
        guard let index = arguments.firstIndex(of: "--scale"), index + 1 < arguments.count,
            let scale = Double(arguments[index + 1]), scale > 0
        else { return 1 }
        return scale
    }

    static func compare<M: Codable & Equatable>(_ name: String, _ message: M, iterations: Int) throws {
        let protoEncoder = ProtoEncoder()
        let protoDecoder = ProtoDecoder()
        let jsonEncoder = JSONEncoder()
        let jsonDecoder = JSONDecoder()
        let protoBytes = try protoEncoder.encode(message)
        let jsonBytes = try jsonEncoder.encode(message)
        // Both codecs must round-trip the value exactly, or the comparison means nothing.
        guard try protoDecoder.decode(M.self, from: protoBytes) == message,
            try jsonDecoder.decode(M.self, from: jsonBytes) == message
        else {
            throw BenchmarkError(message: "\(name): a codec did not round-trip the value")
        }

        // The same codec through the messages' Codable conformance (`usesGeneratedCode = false`): what the generated
        // ProtoMessage code saves.
        var codableEncoder = ProtoEncoder()
        codableEncoder.usesGeneratedCode = false
        var codableDecoder = ProtoDecoder()
        codableDecoder.usesGeneratedCode = false
        guard try codableEncoder.encode(message) == protoBytes,
            try codableDecoder.decode(M.self, from: protoBytes) == message
        else {
            throw BenchmarkError(message: "\(name): the Codable path and the generated code disagree")
        }

        let protoEncode = try Measurement.run(iterations: iterations) { try protoEncoder.encode(message).count }
        let codableEncode = try Measurement.run(iterations: iterations) { try codableEncoder.encode(message).count }
        let codableDecode = try Measurement.run(iterations: iterations) {
            try codableDecoder.decode(M.self, from: protoBytes) == message ? 1 : 0
        }
        let protoDecode = try Measurement.run(iterations: iterations) {
            try protoDecoder.decode(M.self, from: protoBytes) == message ? 1 : 0
        }
        let jsonEncode = try Measurement.run(iterations: iterations) { try jsonEncoder.encode(message).count }
        let jsonDecode = try Measurement.run(iterations: iterations) {
            try jsonDecoder.decode(M.self, from: jsonBytes) == message ? 1 : 0
        }

        print("\(name): protobuf \(protoBytes.count) bytes, JSON \(jsonBytes.count) bytes, \(iterations) iterations")
        print(row("codec", "op", "ns/op", "ops/s", "allocs/op"))
        print(row("protobuf", "encode", protoEncode))
        print(row("(Codable)", "encode", codableEncode))
        print(row("JSON", "encode", jsonEncode))
        print(row("protobuf", "decode", protoDecode))
        print(row("(Codable)", "decode", codableDecode))
        print(row("JSON", "decode", jsonDecode))
        let encodeRatio = jsonEncode.nanosecondsPerOperation / protoEncode.nanosecondsPerOperation
        let decodeRatio = jsonDecode.nanosecondsPerOperation / protoDecode.nanosecondsPerOperation
        print("  protobuf is \(format(encodeRatio, 1))x faster to encode, \(format(decodeRatio, 1))x to decode")
        print(
            "  the generated code is \(format(codableEncode.nanosecondsPerOperation / protoEncode.nanosecondsPerOperation, 1))x faster"
                + " than the Codable path to encode, \(format(codableDecode.nanosecondsPerOperation / protoDecode.nanosecondsPerOperation, 1))x to decode"
        )
        print("  (decode ns/op includes an == check of the decoded value, the same for both codecs)")
        print("")
    }

    static func row(_ codec: String, _ operation: String, _ measurement: Measurement) -> String {
        row(
            codec, operation, format(measurement.nanosecondsPerOperation, 0),
            format(measurement.operationsPerSecond, 0),
            measurement.allocationsPerOperation.map { format($0, 1) } ?? "n/a")
    }

    static func row(_ columns: String...) -> String {
        let widths = [10, 8, 12, 12, 10]
        return "  " + zip(columns, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined()
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
