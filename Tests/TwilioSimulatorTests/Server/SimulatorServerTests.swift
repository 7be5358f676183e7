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
                port: sim.port, method: "GET", path: "/trunking/v1/Trunks",
                authorization: RouterHarness.basic(sim.credentials.accountSid, "wrong"))
            #expect(reply.status == 401)
            #expect(reply.json["code"] as? Int == 20003)
            let none = try await RawHTTPClient.send(
                port: sim.port, method: "GET", path: "/trunking/v1/Trunks", authorization: nil)
            #expect(none.status == 401)
        }
    }

    /// Each API is served only under its own prefix, as each has a host of its own at Twilio: a path under another
    /// API's prefix, or under none, is Twilio's 404/20404 naming the path at that host, so a call sent to the wrong
    /// host is caught. Absolute URLs in answers lead back to the API that serves them.
    @Test func eachAPIIsServedOnlyUnderItsOwnPrefix() async throws {
        try await withSimulator { sim in
            let paths: [TwilioAPI: String] = [
                .api: "\(sim.api)/AvailablePhoneNumbers/US/Local.json", .pricing: "/v1/PhoneNumbers/Countries/US",
                .trunking: "/v1/Trunks",
            ]
            for (owner, path) in paths {
                for host in TwilioAPI.allCases {
                    let reply = try await RawHTTPClient.send(
                        port: sim.port, method: "GET", path: host.pathPrefix + path, authorization: sim.authorization)
                    if host == owner {
                        #expect(reply.status == 200, "\(path) at \(host)")
                    } else {
                        #expect(reply.status == 404, "\(path) at \(host)")
                        #expect(reply.json["code"] as? Int == 20404, "\(path) at \(host)")
                        #expect(reply.json["message"] as? String == "The requested resource \(path) was not found")
                    }
                }
                let bare = try await RawHTTPClient.send(
                    port: sim.port, method: "GET", path: path, authorization: sim.authorization)
                #expect(bare.status == 404 && bare.json["code"] as? Int == 20404, "\(path) under no prefix")
            }
            let log = sim.engine.requestLog
            let served = log.filter { $0.status == 200 }.map(\.host)
            #expect(served.count == 3 && Set(served) == [.only(.api), .only(.pricing), .only(.trunking)])
            #expect(log.filter { $0.status == 404 }.allSatisfy { $0.endpoint == .unknown })
            #expect(log.filter { $0.host == .none }.count == 3)
            // A wrong host is still asked for credentials first, as every Twilio host is.
            let stranger = try await RawHTTPClient.send(
                port: sim.port, method: "GET", path: "/pricing/v1/Trunks", authorization: nil)
            #expect(stranger.status == 401)
            let price = try await sim.get("/v1/PhoneNumbers/Countries/US")
            #expect(price.json["url"] as? String == sim.url(for: .pricing) + "/v1/PhoneNumbers/Countries/US")
            let trunks = try await sim.get("/v1/Trunks")
            let meta = try #require(trunks.json["meta"] as? [String: Any])
            #expect((meta["url"] as? String)?.hasPrefix(sim.url(for: .trunking) + "/v1/Trunks") == true)
        }
    }

    /// A number on a trunk links to its IncomingPhoneNumber at the 2010 API's host, not at Trunking's.
    @Test func aTrunkNumberLinksToTheNumberAtTheAPIHost() async throws {
        try await withSimulator { sim in
            let trunk = try #require(try await sim.post("/v1/Trunks", [("FriendlyName", "pbx")]).json["sid"] as? String)
            let bought = try await sim.post(
                "\(sim.api)/IncomingPhoneNumbers.json", [("PhoneNumber", try sim.firstAvailable())])
            let sid = try #require(bought.json["sid"] as? String)
            let added = try await sim.post("/v1/Trunks/\(trunk)/PhoneNumbers", [("PhoneNumberSid", sid)])
            #expect(added.status == 201)
            #expect(added.json["url"] as? String == sim.url(for: .trunking) + "/v1/Trunks/\(trunk)/PhoneNumbers/\(sid)")
            let links = try #require(added.json["links"] as? [String: Any])
            #expect(
                links["phone_number"] as? String
                    == sim.url(for: .api) + "\(sim.api)/IncomingPhoneNumbers/\(sid)")
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
