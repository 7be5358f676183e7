import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import TwilioSimulator

@Suite struct SimulatorLimitsTests {
    @Test func concurrentPurchasesOfOneNumberAcquireItOnce() async throws {
        try await withSimulator { sim in
            let number = try sim.firstAvailable()
            let statuses = try await withThrowingTaskGroup(of: Int?.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await sim.post("\(sim.api)/IncomingPhoneNumbers.json", [("PhoneNumber", number)]).status
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            // Re-posting an owned number answers 201 (reported Twilio behaviour); it is acquired exactly once.
            #expect(statuses.allSatisfy { $0 == 201 })
            #expect(sim.engine.purchaseCount(number) == 1)
            #expect(sim.engine.repeatPurchaseCount(number) == 7)
            #expect(sim.engine.ownedNumbers.count == 1)
        }
    }

    @Test func requestLogKeepsTheNewestEntriesUpToItsLimit() async throws {
        var log = RequestLog(capacity: 3)
        func entry(_ index: Int) -> RequestLogEntry {
            RequestLogEntry(
                method: "GET", path: "/\(index)", query: "", form: [:], endpoint: .unknown, status: 404, fault: nil,
                acted: false)
        }
        for index in 0..<2 { log.append(entry(index)) }
        #expect(log.entries.map(\.path) == ["/0", "/1"])
        for index in 2..<8 { log.append(entry(index)) }
        #expect(log.entries.map(\.path) == ["/5", "/6", "/7"])
        log.removeAll()
        #expect(log.entries.isEmpty)
        log.append(entry(9))
        #expect(log.entries.map(\.path) == ["/9"])
        var none = RequestLog(capacity: 0)
        none.append(entry(1))
        #expect(none.entries.isEmpty)
    }

    @Test func searchResultsMaxEdge() {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.searchResultsMax = 5
        var h = RouterHarness(configuration: configuration)
        #expect(h.search("US", "Local", [("PageSize", "4")]).count == 4)
        #expect(h.search("US", "Local", [("PageSize", "5")]).count == 5)
        #expect(h.search("US", "Local", [("PageSize", "6")]).count == 5)
        #expect(h.search("US", "Local").count == 5)
    }

    @Test func searchScanMaxBoundsWork() {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.searchScanMax = 100
        var h = RouterHarness(configuration: configuration)
        // 100 candidates at 5 % density hold about 4 numbers (NANP exchange rules drop some): fewer than 30.
        let found = h.search("US", "Local")
        #expect(found.count < 30)
        var wide = RouterHarness()
        #expect(wide.search("US", "Local").count == 30)
    }

    @Test func keepAliveServesSequentialRequestsOnOneConnection() async throws {
        try await withSimulator { sim in
            let auth = sim.authorization
            let first = "GET /v1/PhoneNumbers/Countries/US HTTP/1.1\r\nHost: x\r\nAuthorization: \(auth)\r\n\r\n"
            let second =
                "GET /v1/PhoneNumbers/Countries/GB HTTP/1.1\r\nHost: x\r\nAuthorization: \(auth)\r\nConnection: close\r\n\r\n"
            let text = try await RawHTTPClient.exchange(port: sim.port, text: first + second)
            #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
            #expect(text.contains("\"iso_country\": \"US\"") && text.contains("\"iso_country\": \"GB\""))
            #expect(sim.engine.requestLog.count == 2)
        }
    }

    @Test func idleConnectionIsClosedButASlowRequestIsNot() async throws {
        var configuration = SimulatorConfiguration.defaults
        // Timings leave room for a loaded machine: a client slower than the idle timeout to send its request would
        // rightly be cut off, so the timeout is long enough for any client to send (2 s was not, on a loaded CI run),
        // and the latency longer still.
        configuration.limits.connectionIdleTimeoutMilliseconds = 10_000
        try await withSimulator(configuration) { sim in
            // Nothing sent: the server closes the connection after the idle timeout, long before the client's own
            // cut-off (which tells the two apart without timing the close: a loaded CI run once took 18 s to get
            // there).
            let idle = try await RawHTTPClient.exchange(port: sim.port, text: "", cutOff: RawHTTPClient.cutOffDefault)
            #expect(idle.text.isEmpty)
            #expect(idle.closedByServer)
            // A request delayed past the idle timeout still gets its answer.
            sim.engine.addFault(FaultRule(endpoint: .listTrunks, kind: .latency(milliseconds: 12_000)))
            #expect(try await sim.get("/v1/Trunks").status == 200)
        }
    }

    @Test func expectContinueGetsAnInterimResponse() async throws {
        try await withSimulator { sim in
            let body = "FriendlyName=pbx"
            let request =
                "POST /v1/Trunks HTTP/1.1\r\nHost: x\r\nAuthorization: \(sim.authorization)\r\n"
                + "Content-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\n"
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
            let text = try await RawHTTPClient.exchange(port: sim.port, text: request)
            #expect(text.hasPrefix("HTTP/1.1 100 Continue\r\n"))
            #expect(text.contains("HTTP/1.1 201 Created"))
        }
    }
}
