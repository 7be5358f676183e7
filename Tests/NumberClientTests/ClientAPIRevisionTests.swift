import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberWire
import Testing

@testable import NumberClient

/// The client checks each request's guard fields (`APIRevision.guardedFields`) against the API revision of the
/// server its connection reached (SETTINGS API_REVISION; none = 0, a numberd older than the setting): one set above
/// it fails `FAILED_PRECONDITION` / `SERVER_TOO_OLD` and is never sent, since that server would skip it as an unknown
/// field and act without the guard. The same request without it, and any request to a server new enough, goes out.
@Suite("Client: the server's API revision")
struct ClientAPIRevisionTests {
    /// A client without TLS to the scripted server on `port`.
    static func client(port: Int) -> NumbersClient {
        NumbersClient(
            configuration: NumbersClientConfiguration(
                host: "127.0.0.1", port: port, trustRoots: .system, defaultTimeout: .seconds(60)),
            tls: nil, group: MultiThreadedEventLoopGroup.singleton)
    }

    /// What the scripted server answers a release.
    static var released: ByteBuffer {
        var buffer = ByteBuffer()
        try! ProtoEncoder().encode(ReleaseNumberResponse(message: "released", id: "NUM_1"), into: &buffer)
        return buffer
    }

    @Test("a server without API_REVISION gets no release setting expect_no_paid_cycle (SERVER_TOO_OLD), one without")
    func olderServer() async throws {
        let released = Self.released
        // Its SETTINGS frame is empty (every default, no API_REVISION), as a numberd from before the setting sends.
        let server = try await FakeNumbersServer.start { _, _ in .response(released) }
        let client = Self.client(port: server.port)
        let error = await #expect(throws: RPCError.self) {
            try await client.releaseNumber(ReleaseNumberRequest(numberId: "NUM_1", expectNoPaidCycle: true))
        }
        let callsAfterRefusal = server.calls.count
        let response = try await client.releaseNumber(ReleaseNumberRequest(numberId: "NUM_1"))
        await client.close()
        await server.stop()
        #expect(error?.code == .failedPrecondition)
        #expect(error?.reason == "SERVER_TOO_OLD")
        #expect(error?.details == ["field": "expect_no_paid_cycle", "requiredRevision": "1", "serverRevision": "0"])
        let message = error?.message ?? ""
        #expect(message.contains("ReleaseNumberRequest.expect_no_paid_cycle"), "\(message)")
        #expect(message.contains("upgrade numberd, or send the request without that field"), "\(message)")
        #expect(callsAfterRefusal == 0, "the refused release reached the server")
        #expect(response.message == "released")
        #expect(server.calls.map(\.method) == [NumbersMethods.releaseNumber.path])
    }

    @Test("a server advertising this build's revision gets the guarded release and a period's listing")
    func currentServer() async throws {
        let released = Self.released
        let server = try await FakeNumbersServer.start(
            settings: ConnectionSettings(apiRevision: APIRevision.current)
        ) { _, headers in
            headers.method == NumbersMethods.releaseNumber.path ? .response(released) : .response(ByteBuffer())
        }
        let client = Self.client(port: server.port)
        let response = try await client.releaseNumber(ReleaseNumberRequest(numberId: "NUM_1", expectNoPaidCycle: true))
        _ = try await client.listTransactions(ListTransactionsRequest(startTime: Date(timeIntervalSince1970: 0)))
        await client.close()
        await server.stop()
        #expect(response.message == "released")
        #expect(
            server.calls.map(\.method) == [NumbersMethods.releaseNumber.path, NumbersMethods.listTransactions.path])
    }

    /// A numberd of revision 1 skips `origination_sip_uri` and would create a trunk at Twilio with nowhere to send
    /// its calls: the client refuses the creation unsent; a registration by SID (no origination) still goes out.
    @Test("a revision 1 server gets no CreateTrunk with an origination SIP URI (SERVER_TOO_OLD); one by SID goes out")
    func revisionOneServerAndOrigination() async throws {
        var created = ByteBuffer()
        try ProtoEncoder().encode(CreateTrunkResponse(trunk: Trunk(id: "TRK_1")), into: &created)
        let answer = created
        let server = try await FakeNumbersServer.start(settings: ConnectionSettings(apiRevision: 1)) { _, _ in
            .response(answer)
        }
        let client = Self.client(port: server.port)
        let error = await #expect(throws: RPCError.self) {
            try await client.createTrunk(CreateTrunkRequest(name: "pbx", originationSipUri: "sip:pbx.example.com"))
        }
        let callsAfterRefusal = server.calls.count
        let registered = try await client.createTrunk(CreateTrunkRequest(name: "pbx", providerTrunkSid: "TK1"))
        await client.close()
        await server.stop()
        #expect(error?.code == .failedPrecondition && error?.reason == "SERVER_TOO_OLD")
        #expect(error?.details == ["field": "origination_sip_uri", "requiredRevision": "2", "serverRevision": "1"])
        #expect(callsAfterRefusal == 0, "the refused creation reached the server")
        #expect(registered.trunk.id == "TRK_1")
        #expect(server.calls.map(\.method) == [NumbersMethods.createTrunk.path])
    }

    @Test("a SETTINGS id the client does not know is ignored; API_REVISION beside it is read, and kept after")
    func unknownSettingIgnored() {
        var machine = ClientConnectionStateMachine()
        let guarded = APIRevision.guardedFieldsSet(in: ReleaseNumberRequest(numberId: "NUM_1", expectNoPaidCycle: true))
        // Before the server's SETTINGS (the pool hands out no such connection) and without the id: revision 0.
        #expect(machine.serverAPIRevision == 0)
        #expect(machine.fieldsTooNew(guarded).map(\.field) == ["expect_no_paid_cycle"])
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(0x99))  // an id from a later protocol
        payload.writeInteger(UInt32.max)
        payload.writeInteger(UInt16(0x5))  // API_REVISION
        payload.writeInteger(APIRevision.current)
        #expect(
            machine.received(Frame(type: .settings, streamID: 0, payload: payload))
                == .write([Frame(type: .settings, flags: .ack, streamID: 0)]))
        #expect(machine.phase == .active)
        #expect(machine.serverSettingsReceived)
        #expect(machine.serverAPIRevision == APIRevision.current)
        #expect(machine.fieldsTooNew(guarded).isEmpty)
        // A later SETTINGS that leaves the id out keeps the revision in force (FRAMING.md §7).
        _ = machine.received(
            Frame(type: .settings, streamID: 0, payload: ConnectionSettings(maxConcurrentStreams: 5).payload()))
        #expect(machine.serverAPIRevision == APIRevision.current)
        #expect(machine.serverSettings.maxConcurrentStreams == 5)
    }
}
