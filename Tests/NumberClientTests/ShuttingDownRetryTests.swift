import NIOCore
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// numberd answers `UNAVAILABLE` / `SHUTTING_DOWN` only to a call it never started (its connection could no longer
/// hand it to a handler). The client retries it like a call a GOAWAY refused, whatever the method, on another
/// connection; once the attempts run out the error says `outcome=not-started`.
@Suite("SHUTTING_DOWN is retried as never started")
struct ShuttingDownRetryTests {
    static var trunkCreated: ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(CreateTrunkResponse(trunk: Trunk(id: "TRK_1")), into: &buffer)
        return buffer
    }

    @Test(
        "a call answered SHUTTING_DOWN is made again on a new connection, a read and a call that changes something",
        arguments: [false, true])
    func retriedElsewhere(read: Bool) async throws {
        let server = try await FakeNumbersServer.start { index, _ in
            index == 0 ? .status(.shuttingDown) : .response(Self.trunkCreated)
        }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        if read {
            _ = try await client.listTrunks(ListTrunksRequest(accountId: "ACC_1"))
        } else {
            let response = try await client.createTrunk(CreateTrunkRequest(accountId: "ACC_1", name: "main"))
            #expect(response.trunk.id == "TRK_1")
        }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 2)
        #expect(server.callConnections == [0, 1], "the retry went to another connection")
    }

    @Test("SHUTTING_DOWN on every attempt: the call fails with it, outcome not-started")
    func attemptsRunOut() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .status(.shuttingDown) }
        let client = KeyedRetryTests.client(port: server.port, retry: KeyedRetryTests.quickRetries())
        let error = await #expect(throws: RPCError.self) {
            try await client.deleteTrunk(DeleteTrunkRequest(accountId: "ACC_1", trunkId: "TRK_1"))
        }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 3)
        #expect(error?.reason == "SHUTTING_DOWN", "\(String(describing: error))")
        #expect(error?.details["outcome"] == "not-started", "\(String(describing: error))")
    }
}
