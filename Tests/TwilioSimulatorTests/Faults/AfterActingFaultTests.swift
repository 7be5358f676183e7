import Foundation
import Testing

@testable import TwilioSimulator

/// The faults that act first and then spoil the answer: a stall (timeout after acting), a garbled body, an
/// oversized body. Each really buys the number.
@Suite struct AfterActingFaultTests {
    private func buy(_ engine: SimulatorEngine, _ number: String) -> TransportAction {
        let configuration = engine.configuration
        let path = "/2010-04-01/Accounts/\(configuration.credentials.accountSid)/IncomingPhoneNumbers.json"
        let request = SimulatorRequest(
            method: "POST", target: path,
            headers: [
                (
                    "Authorization",
                    RouterHarness.basic(configuration.credentials.accountSid, configuration.credentials.authToken)
                ),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body: Array(FormParameters(pairs: [("PhoneNumber", number)]).encoded().utf8))
        return engine.handle(request)
    }

    private func firstAvailable(_ engine: SimulatorEngine) throws -> String {
        try #require(engine.availableNumbers(country: "US", type: .local, limit: 1).first).phoneNumber
    }

    @Test func stallAfterActingBuysThenHolds() throws {
        let engine = try SimulatorEngine(configuration: .defaults)
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .stallAfterActing(milliseconds: 2_000)))
        let number = try firstAvailable(engine)
        #expect(buy(engine, number) == .stallThenClose(milliseconds: 2_000))
        #expect(engine.purchaseCount(number) == 1)
        #expect(engine.requestLog.last?.acted == true)
    }

    @Test func garbledBodyAfterActingKeepsTheStatus() throws {
        let engine = try SimulatorEngine(configuration: .defaults)
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .malformedBodyAfterActing))
        let number = try firstAvailable(engine)
        guard case .respond(let response) = buy(engine, number) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 201)
        #expect((try? JSONSerialization.jsonObject(with: Data(response.body))) == nil)
        #expect(engine.purchaseCount(number) == 1)
    }

    @Test(arguments: [2, 4096, 1_500_000])
    func oversizedBodyAfterActingHasTheSize(bytes: Int) throws {
        let engine = try SimulatorEngine(configuration: .defaults)
        engine.addFault(FaultRule(endpoint: .buyNumber, kind: .oversizedBodyAfterActing(bytes: bytes)))
        let number = try firstAvailable(engine)
        guard case .respond(let response) = buy(engine, number) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 201)
        #expect(response.body.count == bytes)
        #expect(engine.purchaseCount(number) == 1)
    }

    /// `error-after:CODE:STATUS` injects a gateway's 502 or 504 after the purchase went through: the number is bought
    /// and the answer is that error. Before it, only Twilio's own 500 and 503 could follow an act.
    @Test func errorAfterActingBuysThenAnswersTheInjectedError() throws {
        let rule = try FaultRule.parse("buyNumber:error-after:0:504")
        guard case .serverErrorAfterActing(let error) = rule.kind else {
            Issue.record("expected serverErrorAfterActing, got \(rule.kind)")
            return
        }
        #expect(error.status == 504 && error.code == 0)
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse("buyNumber:error-after:0:404") }
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse("buyNumber:error-after:0") }
        let engine = try SimulatorEngine(configuration: .defaults)
        engine.addFault(rule)
        let number = try firstAvailable(engine)
        guard case .respond(let response) = buy(engine, number) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 504)
        #expect(engine.purchaseCount(number) == 1)
        #expect(engine.ownedNumbers.map(\.number.phoneNumber) == [number])
        #expect(engine.requestLog.last?.acted == true)
    }

    @Test func parsesTheNewKinds() throws {
        #expect(try FaultRule.parse("buyNumber:stall-after:2500").kind == .stallAfterActing(milliseconds: 2_500))
        #expect(try FaultRule.parse("buyNumber:garbled:0.5").kind == .malformedBodyAfterActing)
        #expect(try FaultRule.parse("buyNumber:garbled:0.5").probability == 0.5)
        #expect(
            try FaultRule.parse("buyNumber:oversized:1200000:1:3").kind == .oversizedBodyAfterActing(bytes: 1_200_000))
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse("buyNumber:oversized") }
        #expect(throws: FaultRule.ParseError.self) { try FaultRule.parse("buyNumber:stall-after:-1") }
    }
}
