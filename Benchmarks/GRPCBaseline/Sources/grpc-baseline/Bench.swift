import GRPCCore

/// A message that is nothing but its bytes: no protobuf, no code generation.
struct RawBytes: Sendable {
    var bytes: [UInt8]
}

struct RawSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: RawBytes) throws -> Bytes {
        Bytes(message.bytes)
    }
}

struct RawDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> RawBytes {
        serializedMessageBytes.withUnsafeBytes { RawBytes(bytes: Array($0)) }
    }
}

/// `/bench.Bench/Call`, unary.
let callMethod = MethodDescriptor(fullyQualifiedService: "bench.Bench", method: "Call", type: .unary)

/// Answers every request with the same fixed response.
struct BenchService: RegistrableRPCService {
    let response: RawBytes

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let response = self.response
        router.registerHandler(
            forMethod: callMethod,
            deserializer: RawDeserializer(),
            serializer: RawSerializer()
        ) { streamRequest, _ in
            // Same shape as generated unary code: collapse the stream to the single request.
            _ = try await ServerRequest(stream: streamRequest)
            return StreamingServerResponse(single: ServerResponse(message: response))
        }
    }
}
