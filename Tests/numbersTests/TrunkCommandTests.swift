import Foundation
import NumberAPI
import NumberServer
import Testing

/// `numbers trunks create --origination sip:…` sends where the trunk's calls go, and `numbers trunks list` shows it:
/// a trunk numberd created at Twilio had none, its numbers ringing nowhere. The built `numbers` runs as a process
/// against a stub server (`swift build --build-tests` first).
@Suite("numbers trunks: the origination SIP URI")
struct TrunkCommandTests {
    static func connection(_ server: StubServer) -> [String] {
        ["--server", "127.0.0.1:\(server.port)", "--ca", server.caFile, "--key", "nk_test", "--account", "ACC_1"]
    }

    /// A server that creates the trunk asked for and lists it, and one registered by its SID (no origination).
    static func trunks(_ received: Recorded<CreateTrunkRequest>) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.createTrunk) { request, _ in
            received.append(request)
            return CreateTrunkResponse(
                trunk: Trunk(
                    id: "TRK_1", accountId: "ACC_1", name: request.name, providerTrunkSid: "TK1",
                    originationSipUri: request.originationSipUri))
        }
        router.register(NumbersMethods.listTrunks) { _, _ in
            ListTrunksResponse(trunks: [
                Trunk(
                    id: "TRK_1", accountId: "ACC_1", name: "pbx", providerTrunkSid: "TK1", numberCount: 2,
                    originationSipUri: "sip:pbx.example.com:5060"),
                Trunk(id: "TRK_2", accountId: "ACC_1", name: "legacy", providerTrunkSid: "TK2"),
            ])
        }
        return router
    }

    @Test("create sends --origination as originationSipUri and says where the calls go; list shows it, - for none")
    func originationSentAndListed() async throws {
        let received = Recorded<CreateTrunkRequest>()
        try await withStubServer(router: Self.trunks(received)) { server in
            let created = try await runNumbers(
                ["trunks", "create", "--name", "pbx", "--origination", "sip:pbx.example.com:5060"]
                    + Self.connection(server))
            #expect(created.status == 0, "\(created)")
            #expect(created.stdout.contains("created TRK_1 pbx, its calls sent to sip:pbx.example.com:5060"))
            let listed = try await runNumbers(["trunks", "list"] + Self.connection(server))
            #expect(listed.status == 0, "\(listed)")
            let lines = listed.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.contains("ORIGINATION") == true, "\(listed.stdout)")
            #expect(lines.contains { $0.hasPrefix("TRK_1") && $0.contains("sip:pbx.example.com:5060") })
            let legacy = try #require(lines.first { $0.hasPrefix("TRK_2") })
            #expect(legacy.split(separator: " ").contains("-"), "\(legacy)")
        }
        #expect(received.all.map(\.originationSipUri) == ["sip:pbx.example.com:5060"])
        #expect(received.all.map(\.providerTrunkSid) == [""])
    }
}
