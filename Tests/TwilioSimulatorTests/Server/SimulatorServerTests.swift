import Foundation
import NIOCore
import Testing

@testable import TwilioSimulator

@Suite struct SimulatorServerTests {
    @Test func buyGoneFromSearchReleaseBackOverSocket() async throws {
        try await withSimulator { sim in
            let search = try await sim.get("\(sim.api)/AvailablePhoneNumbers/US/Local.json?AreaCode=415")
            #expect(search.status == 200)
            #expect(search.header("Content-Type") == "application/json; charset=utf-8")
            let numbers = (search.json["available_phone_numbers"] as? [[String: Any]] ?? []).compactMap {
                $0["phone_number"] as? String
            }
            #expect(numbers.count == 30)
            let number = try #require(numbers.first)
            let bought = try await sim.post("\(sim.api)/IncomingPhoneNumbers.json", [("PhoneNumber", number)])
            #expect(bought.status == 201)
            let sid = try #require(bought.json["sid"] as? String)
            let after = try await sim.get("\(sim.api)/AvailablePhoneNumbers/US/Local.json?AreaCode=415")
            #expect(!after.body.contains(number))
            let second = try await sim.post("\(sim.api)/IncomingPhoneNumbers.json", [("PhoneNumber", "+15005550000")])
            #expect(second.status == 400)
            #expect(second.json["code"] as? Int == 21422)
            let released = try await sim.delete("\(sim.api)/IncomingPhoneNumbers/\(sid).json")
            #expect(released.status == 204)
            #expect(released.body.isEmpty)
            #expect(sim.engine.isAvailable(number))
            #expect(sim.engine.purchaseCount(number) == 1)
            #expect(sim.engine.releaseCount(number) == 1)
        }
    }

    @Test func wrongCredentialsOverSocket() async throws {
        try await withSimulator { sim in
            let reply = try await RawHTTPClient.send(
                port: sim.port, method: "GET", path: "/v1/Trunks",
                authorization: RouterHarness.basic(sim.credentials.accountSid, "wrong"))
            #expect(reply.status == 401)
            #expect(reply.json["code"] as? Int == 20003)
            let none = try await RawHTTPClient.send(
                port: sim.port, method: "GET", path: "/v1/Trunks", authorization: nil)
            #expect(none.status == 401)
        }
    }

    @Test func requestLogRecordsEveryRequest() async throws {
        try await withSimulator { sim in
            _ = try await sim.get("/v1/PhoneNumbers/Countries/US")
            _ = try await sim.post("/v1/Trunks", [("FriendlyName", "pbx")])
            let log = sim.engine.requestLog
            #expect(log.map(\.endpoint) == [.pricingCountry, .createTrunk])
            #expect(log.map(\.status) == [200, 201])
            #expect(log[1].form["FriendlyName"] == "pbx")
            #expect(log.map(\.acted) == [false, true])
            #expect(sim.baseURL == "http://127.0.0.1:\(sim.port)")
        }
    }

    @Test func bodyLimitEdge() async throws {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.requestBodyBytesMax = 64
        try await withSimulator(configuration) { sim in
            let atLimit = String(repeating: "a", count: 64 - "FriendlyName=".count)
            #expect(try await sim.post("/v1/Trunks", [("FriendlyName", atLimit)]).status == 201)
            let reply = try await sim.post("/v1/Trunks", [("FriendlyName", atLimit + "a")])
            #expect(reply.status == 413)
            #expect(sim.engine.trunks.count == 1)
        }
    }
}
