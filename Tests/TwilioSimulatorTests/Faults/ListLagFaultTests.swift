import Foundation
import Synchronization
import Testing

@testable import TwilioSimulator

/// The list-lag fault: what Twilio is reported to answer right after a purchase (twilio-api.md §8.6) — the number
/// bought, but missing from lists and fetches, and its DELETE answered 404/20404 — for a set time after its creation.
@Suite struct ListLagFaultTests {
    /// The simulator's time, moved by the test.
    private final class Clock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_438_298_344))
        func advance(by seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    }

    private let clock = Clock()

    private func engine() throws -> SimulatorEngine {
        try SimulatorEngine(configuration: .defaults, clock: { [clock] in clock.now.withLock { $0 } })
    }

    /// The E.164 numbers a list of the account's numbers shows.
    private func listed(_ engine: SimulatorEngine) -> [String] {
        let list = engine.send("GET", engine.api + "/IncomingPhoneNumbers.json").json
        return (list["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["phone_number"] as? String }
    }

    @Test func aNumberBoughtUnderTheLagIsHiddenUntilItEnds() throws {
        let engine = try engine()
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .listLag(milliseconds: 1_500), times: 1))
        let numbers = engine.availableNumbers(country: "US", type: .local, limit: 2).map(\.phoneNumber)
        let bought = numbers.map {
            engine.send("POST", engine.api + "/IncomingPhoneNumbers.json", form: [("PhoneNumber", $0)])
        }
        #expect(bought.map(\.status) == [201, 201])
        let hidden = try #require(bought[0].json["sid"] as? String)
        let path = engine.api + "/IncomingPhoneNumbers/\(hidden).json"
        // Bought (and billed), but not shown, and a DELETE is Twilio's 404; the second purchase had no lag.
        #expect(engine.ownedNumbers.map(\.number.phoneNumber) == numbers)
        #expect(listed(engine) == [numbers[1]])
        #expect(engine.send("GET", path).status == 404)
        let delete = engine.send("DELETE", path)
        #expect(delete.status == 404 && delete.json["code"] as? Int == 20404)
        #expect(engine.ownedNumbers.count == 2 && engine.releaseCount(numbers[0]) == 0)
        clock.advance(by: 1.499)
        #expect(listed(engine) == [numbers[1]])
        clock.advance(by: 0.001)
        #expect(listed(engine) == numbers)
        #expect(engine.send("GET", path).status == 200)
        #expect(engine.send("DELETE", path).status == 204)
        #expect(engine.ownedNumbers.map(\.number.phoneNumber) == [numbers[1]])
    }

    /// The number out of sight is out of sight everywhere: its update (`TrunkSid`, as numberd routes it) and every
    /// Trunking route answer 404/20404 as its fetch does, and the trunk's list does not show it.
    @Test func aHiddenNumberCannotBeUpdatedOrAssociatedEither() throws {
        let engine = try engine()
        let trunk = engine.send("POST", "/v1/Trunks", form: [("FriendlyName", "main")])
        let trunkSid = try #require(trunk.json["sid"] as? String)
        let number = try #require(engine.availableNumbers(country: "US", type: .local, limit: 1).first?.phoneNumber)
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .listLag(milliseconds: 1_000), times: 1))
        let bought = engine.send(
            "POST", engine.api + "/IncomingPhoneNumbers.json",
            form: [("PhoneNumber", number), ("TrunkSid", trunkSid)])
        #expect(bought.status == 201)
        let sid = try #require(bought.json["sid"] as? String)
        let update = engine.send(
            "POST", engine.api + "/IncomingPhoneNumbers/\(sid).json", form: [("TrunkSid", trunkSid)])
        #expect(update.status == 404 && update.json["code"] as? Int == 20404)
        let onTrunk = { () -> [String] in
            let list = engine.send("GET", "/v1/Trunks/\(trunkSid)/PhoneNumbers").json
            return (list["phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
        }
        #expect(onTrunk().isEmpty)
        #expect(engine.send("GET", "/v1/Trunks/\(trunkSid)/PhoneNumbers/\(sid)").status == 404)
        #expect(engine.send("DELETE", "/v1/Trunks/\(trunkSid)/PhoneNumbers/\(sid)").status == 404)
        let associate = engine.send("POST", "/v1/Trunks/\(trunkSid)/PhoneNumbers", form: [("PhoneNumberSid", sid)])
        #expect(associate.status == 404)
        clock.advance(by: 1)
        #expect(onTrunk() == [sid])
        #expect(engine.send("GET", "/v1/Trunks/\(trunkSid)/PhoneNumbers/\(sid)").status == 200)
        #expect(
            engine.send("POST", engine.api + "/IncomingPhoneNumbers/\(sid).json", form: [("TrunkSid", trunkSid)])
                .status == 200)
    }

    @Test func theLagGoesWithAnotherFaultAndIsParsed() throws {
        var injector = FaultInjector(seed: 1)
        injector.add(FaultRule(endpoint: .buyNumber, kind: .listLag(milliseconds: 500)))
        injector.add(FaultRule(endpoint: .buyNumber, kind: .listLag(milliseconds: 2_000)))
        injector.add(FaultRule(endpoint: .buyNumber, kind: .responseLost))
        let plan = injector.plan(for: .buyNumber)
        #expect(plan.fault == .responseLost && plan.listLagMilliseconds == 2_000)
        #expect(injector.plan(for: .listNumbers) == .none)
        #expect(try FaultRule.parse("buyNumber:lag:2000").kind == .listLag(milliseconds: 2_000))
        #expect(try FaultRule.parse("any:lag:10:0.5:3").remaining == 3)
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse("buyNumber:lag") }
        #expect(try FaultRule.parse("releaseNumber:503-retry-after:2").kind == .unavailableRetryAfter(seconds: 2))
    }

    @Test func a503WithRetryAfterActsOnNothing() throws {
        let engine = try engine()
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .unavailableRetryAfter(seconds: 3), times: 1))
        let number = try #require(engine.availableNumbers(country: "US", type: .local, limit: 1).first).phoneNumber
        let credentials = engine.configuration.credentials
        let request = SimulatorRequest(
            method: "POST", target: engine.api + "/IncomingPhoneNumbers.json",
            headers: [
                ("Authorization", RouterHarness.basic(credentials.accountSid, credentials.authToken)),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body: Array(FormParameters(pairs: [("PhoneNumber", number)]).encoded().utf8))
        guard case .respond(let response) = engine.handle(request) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 503 && response.headers["Retry-After"] == "3")
        #expect(engine.purchaseCount(number) == 0)
    }
}
