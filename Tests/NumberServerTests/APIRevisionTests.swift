import Foundation
import NIOCore
import NumberAPI
import NumberClient
import NumberServer
import NumberWire
import Synchronization
import Testing

/// numberd names its API revision in its SETTINGS (API_REVISION, FRAMING.md §7), so the bundled client can refuse a
/// request whose guard fields an older server would skip as unknown; against this server such a request goes out and
/// arrives whole.
@Suite("Server: its API revision, over TLS")
struct ServerAPIRevisionTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// What the router's handlers were sent, from any thread, in order.
    final class Received: Sendable {
        let releases = Mutex<[ReleaseNumberRequest]>([])
        let listings = Mutex<[ListTransactionsRequest]>([])
    }

    @Test("the server's first frame is its SETTINGS, carrying API_REVISION (id 0x5) = APIRevision.current")
    func advertised() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, _ in HealthCheckResponse(status: .serving, version: "test") }
        try await withTestServer(router: router, tls: tls) { _, port in
            var send = ByteBuffer()
            Preface.write(to: &send)
            send.writeFrame(Frame(type: .settings, streamID: 0))
            // The client's GOAWAY: with no call open the server closes at once, ending the exchange.
            send.writeFrame(
                Frame(type: .goAway, streamID: 0, payload: GoAway(lastStreamID: 0, code: .noError).payload()))
            let received = try frames(in: try await rawExchange(port: port, tls: tls, send: send))
            let settings = try #require(received.first)
            #expect(settings.type == .settings && !settings.flags.contains(.ack))
            // The entries as bytes (id u16, value u32), not only as the parser reads them: the id is the wire's.
            var payload = settings.payload
            var entries: [UInt16: UInt32] = [:]
            while let id: UInt16 = payload.readInteger(), let value: UInt32 = payload.readInteger() {
                entries[id] = value
            }
            #expect(entries[0x5] == APIRevision.current)
            #expect(try ConnectionSettings(payload: settings.payload).apiRevision == APIRevision.current)
        }
    }

    @Test("a release setting expect_no_paid_cycle and a period's listing reach the current server with their guards")
    func guardedRequestsGoThrough() async throws {
        let received = Received()
        var router = RPCRouter()
        router.register(NumbersMethods.releaseNumber) { request, _ in
            received.releases.withLock { $0.append(request) }
            return ReleaseNumberResponse(message: "released", id: request.numberId)
        }
        router.register(NumbersMethods.listTransactions) { request, _ in
            received.listings.withLock { $0.append(request) }
            return ListTransactionsResponse()
        }
        let release = ReleaseNumberRequest(numberId: "NUM_7a8b9c0d1e2", expectNoPaidCycle: true)
        let period = ListTransactionsRequest(
            startTime: Date(timeIntervalSince1970: 1_767_225_600), endTime: Date(timeIntervalSince1970: 1_769_904_000))
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port, apiKey: "nk_x")) { client in
                let response = try await client.releaseNumber(release)
                #expect(response.message == "released" && response.id == "NUM_7a8b9c0d1e2")
                _ = try await client.listTransactions(period)
            }
        }
        #expect(received.releases.withLock { $0 } == [release])
        #expect(received.listings.withLock { $0 } == [period])
    }
}
